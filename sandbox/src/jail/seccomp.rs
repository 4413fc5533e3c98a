//! The jail's seccomp filters, built with seccompiler from the plan (pure).
//!
//! Three or four filters are installed, the kernel applying the strictest answer:
//! 1. the calls of [`ENOSYS_WHEN_DENIED`] whose class is denied fail with
//!    ENOSYS, unreported: `clone3` (its flags live in memory where BPF cannot
//!    look; libc falls back to `clone`, whose flags are checked below) and
//!    `io_uring_setup` (libuv ≥ 1.45 probes it at every event loop start and
//!    falls back to epoll; without a ring, `io_uring_enter`/`register`, still
//!    reported, reach nothing);
//! 2. the *guard*: x32-ABI and foreign-architecture calls are let through to the
//!    watch filter, which notifies them (the supervisor reports `seccomp.abi`
//!    and denies them, in whichever process of the task they happen; without a
//!    supervisor, in `orchestra bench`'s baseline, they kill the process), and
//!    every number that [`TABLE`] does not
//!    list as implemented fails with ENOSYS — above [`MAX_KNOWN`], in the holes of
//!    the x86_64 table, and the removed calls. A syscall added by a newer kernel is
//!    therefore never allowed silently: it is unknown here until the table names
//!    it and gives it a [`Kind`];
//! 3. the *watch* filter: every syscall of interest goes to the supervisor as a
//!    user notification ([`Watch`] says why). Denied classes and forbidden socket
//!    families are reported and denied; writes and execs are inspected and either
//!    reported+denied or continued (landlock and the mount tree still enforce).
//!
//! Every x86_64 number the running kernel implements has an explicit [`Kind`]
//! in [`TABLE`] (a unit test compares the table with the kernel's own list).
//!
//! seccompiler has no user-notification action, so the watch filter is compiled
//! with `Trace(0)` as its match action and that return value is rewritten to
//! `SECCOMP_RET_USER_NOTIF` ([`rewrite_trace_to_notify`]); nothing else in the
//! program can return `SECCOMP_RET_TRACE`.

use super::plan::JailPlan;
use crate::policy::{NetworkMode, SyscallClass};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition as Cond, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// Why a syscall is sent to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// A denied class: always a violation.
    Class(SyscallClass),
    /// A socket of a family or type the network mode forbids: always a violation.
    Socket,
    /// `connect`, or `sendto` with a destination: inspect the address (abstract
    /// unix sockets, non-loopback IPs).
    Connect,
    /// `execve`/`execveat`: inspect the file (setuid/setgid bits).
    Exec,
    /// A syscall that writes the filesystem: inspect the path(s).
    Write(PathArgs),
    /// A syscall that changes the file behind a descriptor (fchmod, fchown, …):
    /// inspect the path that descriptor refers to. The value is the fd argument.
    WriteFd(usize),
    /// `sendmsg`/`sendmmsg`: inspect each message's destination address (in
    /// the `msghdr`, where BPF cannot look) as [`Watch::Connect`] does.
    SendMsg,
    /// A call that may end the process while another of its threads waits on a
    /// notification (`exit_group`, a signal sent to a process or thread): always
    /// continued. The kernel queues notifications in order and the supervisor
    /// receives them in that order, so every notification queued before this one
    /// has been received (and judged) when it arrives; without it, the kernel
    /// would drop a waiting thread's notification when the process dies.
    Barrier,
}

/// Where a writing syscall keeps its path arguments: `(dirfd_arg, path_arg)` pairs,
/// `dirfd_arg` being `None` for the non-`at` variants (relative to the cwd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathArgs {
    /// Paths that the call creates or modifies.
    pub targets: &'static [(Option<usize>, usize)],
    /// A path that must already be writable-visible for a hard link source.
    pub link_source: Option<(Option<usize>, usize)>,
    /// Whether the final component is followed if it is a symlink (open-like calls).
    pub follows: bool,
}

/// System calls that fail with ENOSYS, without a report, when their class is
/// denied: the one table for the jail's first filter and the containers'
/// seccomp profile. Each is a call that benign programs probe and fall back
/// from, and that on its own reaches nothing the class protects:
/// - `clone3`: its namespace flags live in memory BPF cannot read; libc falls
///   back to `clone`, whose flags the `namespaces` class checks;
/// - `io_uring_setup`: libuv ≥ 1.45 (Node.js ≥ 20, CMake ≥ 3.28) calls it when
///   an event loop starts and falls back to epoll on any error; without a
///   ring, `io_uring_enter` and `io_uring_register` (still reported as
///   `syscall.io_uring`) have nothing to act on.
pub const ENOSYS_WHEN_DENIED: &[(SyscallClass, i64, &str)] = &[
    (SyscallClass::Namespaces, libc::SYS_clone3, "clone3"),
    (SyscallClass::IoUring, libc::SYS_io_uring_setup, "io_uring_setup"),
];

/// The entries of [`ENOSYS_WHEN_DENIED`] whose class `denied` lists.
pub fn enosys_calls(denied: &[SyscallClass]) -> Vec<(i64, &'static str)> {
    ENOSYS_WHEN_DENIED.iter().filter(|(c, _, _)| denied.contains(c)).map(|(_, nr, name)| (*nr, *name)).collect()
}

/// `FS_IOC_SETFLAGS` (`_IOW('f', 2, long)`): set inode flags (chattr).
pub const FS_IOC_SETFLAGS: u64 = 0x4008_6602;
/// `FS_IOC_FSSETXATTR` (`_IOW('X', 32, struct fsxattr)`): set extended inode flags.
pub const FS_IOC_FSSETXATTR: u64 = 0x401c_5820;

/// x86_64 numbers of system calls newer than the kernel headers of the build
/// host (linux-libc-dev 6.1) and than most libc crates, with the Linux version
/// that added each. One place for all of them; [`TABLE`] names every number.
pub mod nr {
    /// uretprobe(2), Linux 6.11 (only valid from the kernel's uretprobe trampoline).
    pub const URETPROBE: i64 = 335;
    /// uprobe(2), Linux 6.18 (only valid from the kernel's uprobe trampoline).
    pub const UPROBE: i64 = 336;
    /// cachestat(2), Linux 6.5.
    pub const CACHESTAT: i64 = 451;
    /// fchmodat2(2), Linux 6.6.
    pub const FCHMODAT2: i64 = 452;
    /// map_shadow_stack(2), Linux 6.6.
    pub const MAP_SHADOW_STACK: i64 = 453;
    /// futex_wake(2), Linux 6.7.
    pub const FUTEX_WAKE: i64 = 454;
    /// futex_wait(2), Linux 6.7.
    pub const FUTEX_WAIT: i64 = 455;
    /// futex_requeue(2), Linux 6.7.
    pub const FUTEX_REQUEUE: i64 = 456;
    /// statmount(2), Linux 6.8.
    pub const STATMOUNT: i64 = 457;
    /// listmount(2), Linux 6.8.
    pub const LISTMOUNT: i64 = 458;
    /// lsm_get_self_attr(2), Linux 6.8.
    pub const LSM_GET_SELF_ATTR: i64 = 459;
    /// lsm_set_self_attr(2), Linux 6.8.
    pub const LSM_SET_SELF_ATTR: i64 = 460;
    /// lsm_list_modules(2), Linux 6.8.
    pub const LSM_LIST_MODULES: i64 = 461;
    /// mseal(2), Linux 6.10.
    pub const MSEAL: i64 = 462;
    /// setxattrat(2), Linux 6.13.
    pub const SETXATTRAT: i64 = 463;
    /// getxattrat(2), Linux 6.13.
    pub const GETXATTRAT: i64 = 464;
    /// listxattrat(2), Linux 6.13.
    pub const LISTXATTRAT: i64 = 465;
    /// removexattrat(2), Linux 6.13.
    pub const REMOVEXATTRAT: i64 = 466;
    /// open_tree_attr(2), Linux 6.15.
    pub const OPEN_TREE_ATTR: i64 = 467;
    /// file_getattr(2), Linux 6.17.
    pub const FILE_GETATTR: i64 = 468;
    /// file_setattr(2), Linux 6.17.
    pub const FILE_SETATTR: i64 = 469;
}

/// The highest x86_64 syscall number [`TABLE`] knows (Linux 6.18: file_setattr).
/// Higher numbers fail with ENOSYS (the guard filter).
pub const MAX_KNOWN: i64 = nr::FILE_SETATTR;

/// What the filters do with one syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Allowed: the kernel's own checks apply (no capabilities, no_new_privs,
    /// landlock, the namespaces).
    Allowed,
    /// In the watch table ([`watch_of`]): notified to the supervisor under the
    /// conditions of [`watch_rules`], judged there.
    Watched,
    /// Removed from the kernel (ENOSYS there); the guard answers ENOSYS as well.
    Gone,
}

use Kind::{Allowed as A, Gone as G, Watched as W};

/// Every x86_64 system call number up to [`MAX_KNOWN`] that has ever been
/// assigned, with its name and [`Kind`]; the numbers not listed (336..424 less
/// the uprobe calls) were never assigned and fail with ENOSYS. Allowed calls of
/// note: `landlock_*` (a task may restrict itself further), `mseal`,
/// `map_shadow_stack`, `futex_*`, `cachestat`, `lsm_*` (the task's own LSM
/// attributes), `pidfd_open`, `process_mrelease`,
/// `memfd_secret` (its pages cannot be read by the supervisor: a path there is
/// denied as unreadable), `listmount`/`statmount` (what /proc/self/mountinfo
/// shows; other mount namespaces need CAP_SYS_ADMIN, which the task lacks),
/// `getxattrat`/`listxattrat`/`file_getattr` (reads), `uretprobe`/`uprobe` (they
/// signal the caller unless called from the kernel's own trampoline).
pub const TABLE: &[(i64, &str, Kind)] = &[
    (0, "read", A),
    (1, "write", A),
    (2, "open", W),
    (3, "close", A),
    (4, "stat", A),
    (5, "fstat", A),
    (6, "lstat", A),
    (7, "poll", A),
    (8, "lseek", A),
    (9, "mmap", A),
    (10, "mprotect", A),
    (11, "munmap", A),
    (12, "brk", A),
    (13, "rt_sigaction", A),
    (14, "rt_sigprocmask", A),
    (15, "rt_sigreturn", A),
    (16, "ioctl", W),
    (17, "pread64", A),
    (18, "pwrite64", A),
    (19, "readv", A),
    (20, "writev", A),
    (21, "access", A),
    (22, "pipe", A),
    (23, "select", A),
    (24, "sched_yield", A),
    (25, "mremap", A),
    (26, "msync", A),
    (27, "mincore", A),
    (28, "madvise", A),
    (29, "shmget", W),
    (30, "shmat", W),
    (31, "shmctl", W),
    (32, "dup", A),
    (33, "dup2", A),
    (34, "pause", A),
    (35, "nanosleep", A),
    (36, "getitimer", A),
    (37, "alarm", A),
    (38, "setitimer", A),
    (39, "getpid", A),
    (40, "sendfile", A),
    (41, "socket", W),
    (42, "connect", W),
    (43, "accept", A),
    (44, "sendto", W),
    (45, "recvfrom", A),
    (46, "sendmsg", W),
    (47, "recvmsg", A),
    (48, "shutdown", A),
    (49, "bind", A),
    (50, "listen", A),
    (51, "getsockname", A),
    (52, "getpeername", A),
    (53, "socketpair", W),
    (54, "setsockopt", A),
    (55, "getsockopt", A),
    (56, "clone", W),
    (57, "fork", A),
    (58, "vfork", A),
    (59, "execve", W),
    (60, "exit", A),
    (61, "wait4", A),
    (62, "kill", W),
    (63, "uname", A),
    (64, "semget", W),
    (65, "semop", W),
    (66, "semctl", W),
    (67, "shmdt", A),
    (68, "msgget", W),
    (69, "msgsnd", W),
    (70, "msgrcv", W),
    (71, "msgctl", W),
    (72, "fcntl", A),
    (73, "flock", A),
    (74, "fsync", A),
    (75, "fdatasync", A),
    (76, "truncate", W),
    (77, "ftruncate", A),
    (78, "getdents", A),
    (79, "getcwd", A),
    (80, "chdir", A),
    (81, "fchdir", A),
    (82, "rename", W),
    (83, "mkdir", W),
    (84, "rmdir", W),
    (85, "creat", W),
    (86, "link", W),
    (87, "unlink", W),
    (88, "symlink", W),
    (89, "readlink", A),
    (90, "chmod", W),
    (91, "fchmod", W),
    (92, "chown", W),
    (93, "fchown", W),
    (94, "lchown", W),
    (95, "umask", A),
    (96, "gettimeofday", A),
    (97, "getrlimit", A),
    (98, "getrusage", A),
    (99, "sysinfo", A),
    (100, "times", A),
    (101, "ptrace", W),
    (102, "getuid", A),
    (103, "syslog", W),
    (104, "getgid", A),
    (105, "setuid", A),
    (106, "setgid", A),
    (107, "geteuid", A),
    (108, "getegid", A),
    (109, "setpgid", A),
    (110, "getppid", A),
    (111, "getpgrp", A),
    (112, "setsid", A),
    (113, "setreuid", A),
    (114, "setregid", A),
    (115, "getgroups", A),
    (116, "setgroups", A),
    (117, "setresuid", A),
    (118, "getresuid", A),
    (119, "setresgid", A),
    (120, "getresgid", A),
    (121, "getpgid", A),
    (122, "setfsuid", A),
    (123, "setfsgid", A),
    (124, "getsid", A),
    (125, "capget", A),
    (126, "capset", A),
    (127, "rt_sigpending", A),
    (128, "rt_sigtimedwait", A),
    (129, "rt_sigqueueinfo", W),
    (130, "rt_sigsuspend", A),
    (131, "sigaltstack", A),
    (132, "utime", W),
    (133, "mknod", W),
    (134, "uselib", W),
    (135, "personality", W),
    (136, "ustat", A),
    (137, "statfs", A),
    (138, "fstatfs", A),
    (139, "sysfs", A),
    (140, "getpriority", A),
    (141, "setpriority", A),
    (142, "sched_setparam", A),
    (143, "sched_getparam", A),
    (144, "sched_setscheduler", A),
    (145, "sched_getscheduler", A),
    (146, "sched_get_priority_max", A),
    (147, "sched_get_priority_min", A),
    (148, "sched_rr_get_interval", A),
    (149, "mlock", A),
    (150, "munlock", A),
    (151, "mlockall", A),
    (152, "munlockall", A),
    (153, "vhangup", W),
    (154, "modify_ldt", W),
    (155, "pivot_root", W),
    (156, "_sysctl", G),
    (157, "prctl", A),
    (158, "arch_prctl", A),
    (159, "adjtimex", W),
    (160, "setrlimit", A),
    (161, "chroot", W),
    (162, "sync", A),
    (163, "acct", W),
    (164, "settimeofday", W),
    (165, "mount", W),
    (166, "umount2", W),
    (167, "swapon", W),
    (168, "swapoff", W),
    (169, "reboot", W),
    (170, "sethostname", A),
    (171, "setdomainname", A),
    (172, "iopl", W),
    (173, "ioperm", W),
    (174, "create_module", G),
    (175, "init_module", W),
    (176, "delete_module", W),
    (177, "get_kernel_syms", G),
    (178, "query_module", G),
    (179, "quotactl", W),
    (180, "nfsservctl", G),
    (181, "getpmsg", G),
    (182, "putpmsg", G),
    (183, "afs_syscall", G),
    (184, "tuxcall", G),
    (185, "security", G),
    (186, "gettid", A),
    (187, "readahead", A),
    (188, "setxattr", W),
    (189, "lsetxattr", W),
    (190, "fsetxattr", W),
    (191, "getxattr", A),
    (192, "lgetxattr", A),
    (193, "fgetxattr", A),
    (194, "listxattr", A),
    (195, "llistxattr", A),
    (196, "flistxattr", A),
    (197, "removexattr", W),
    (198, "lremovexattr", W),
    (199, "fremovexattr", W),
    (200, "tkill", W),
    (201, "time", A),
    (202, "futex", A),
    (203, "sched_setaffinity", A),
    (204, "sched_getaffinity", A),
    (205, "set_thread_area", A),
    (206, "io_setup", A),
    (207, "io_destroy", A),
    (208, "io_getevents", A),
    (209, "io_submit", A),
    (210, "io_cancel", A),
    (211, "get_thread_area", A),
    (212, "lookup_dcookie", G),
    (213, "epoll_create", A),
    (214, "epoll_ctl_old", G),
    (215, "epoll_wait_old", G),
    (216, "remap_file_pages", A),
    (217, "getdents64", A),
    (218, "set_tid_address", A),
    (219, "restart_syscall", A),
    (220, "semtimedop", W),
    (221, "fadvise64", A),
    (222, "timer_create", A),
    (223, "timer_settime", A),
    (224, "timer_gettime", A),
    (225, "timer_getoverrun", A),
    (226, "timer_delete", A),
    (227, "clock_settime", W),
    (228, "clock_gettime", A),
    (229, "clock_getres", A),
    (230, "clock_nanosleep", A),
    (231, "exit_group", W),
    (232, "epoll_wait", A),
    (233, "epoll_ctl", A),
    (234, "tgkill", W),
    (235, "utimes", W),
    (236, "vserver", G),
    (237, "mbind", A),
    (238, "set_mempolicy", A),
    (239, "get_mempolicy", A),
    (240, "mq_open", W),
    (241, "mq_unlink", W),
    (242, "mq_timedsend", A),
    (243, "mq_timedreceive", A),
    (244, "mq_notify", A),
    (245, "mq_getsetattr", A),
    (246, "kexec_load", W),
    (247, "waitid", A),
    (248, "add_key", W),
    (249, "request_key", W),
    (250, "keyctl", W),
    (251, "ioprio_set", A),
    (252, "ioprio_get", A),
    (253, "inotify_init", A),
    (254, "inotify_add_watch", A),
    (255, "inotify_rm_watch", A),
    (256, "migrate_pages", A),
    (257, "openat", W),
    (258, "mkdirat", W),
    (259, "mknodat", W),
    (260, "fchownat", W),
    (261, "futimesat", W),
    (262, "newfstatat", A),
    (263, "unlinkat", W),
    (264, "renameat", W),
    (265, "linkat", W),
    (266, "symlinkat", W),
    (267, "readlinkat", A),
    (268, "fchmodat", W),
    (269, "faccessat", A),
    (270, "pselect6", A),
    (271, "ppoll", A),
    (272, "unshare", W),
    (273, "set_robust_list", A),
    (274, "get_robust_list", A),
    (275, "splice", A),
    (276, "tee", A),
    (277, "sync_file_range", A),
    (278, "vmsplice", A),
    (279, "move_pages", A),
    (280, "utimensat", W),
    (281, "epoll_pwait", A),
    (282, "signalfd", A),
    (283, "timerfd_create", A),
    (284, "eventfd", A),
    (285, "fallocate", A),
    (286, "timerfd_settime", A),
    (287, "timerfd_gettime", A),
    (288, "accept4", A),
    (289, "signalfd4", A),
    (290, "eventfd2", A),
    (291, "epoll_create1", A),
    (292, "dup3", A),
    (293, "pipe2", A),
    (294, "inotify_init1", A),
    (295, "preadv", A),
    (296, "pwritev", A),
    (297, "rt_tgsigqueueinfo", W),
    (298, "perf_event_open", W),
    (299, "recvmmsg", A),
    (300, "fanotify_init", W),
    (301, "fanotify_mark", W),
    (302, "prlimit64", A),
    (303, "name_to_handle_at", A),
    (304, "open_by_handle_at", W),
    (305, "clock_adjtime", W),
    (306, "syncfs", A),
    (307, "sendmmsg", W),
    (308, "setns", W),
    (309, "getcpu", A),
    (310, "process_vm_readv", W),
    (311, "process_vm_writev", W),
    (312, "kcmp", W),
    (313, "finit_module", W),
    (314, "sched_setattr", A),
    (315, "sched_getattr", A),
    (316, "renameat2", W),
    (317, "seccomp", A),
    (318, "getrandom", A),
    (319, "memfd_create", A),
    (320, "kexec_file_load", W),
    (321, "bpf", W),
    (322, "execveat", W),
    (323, "userfaultfd", W),
    (324, "membarrier", A),
    (325, "mlock2", A),
    (326, "copy_file_range", A),
    (327, "preadv2", A),
    (328, "pwritev2", A),
    (329, "pkey_mprotect", A),
    (330, "pkey_alloc", A),
    (331, "pkey_free", A),
    (332, "statx", A),
    (333, "io_pgetevents", A),
    (334, "rseq", A),
    (335, "uretprobe", A),
    (336, "uprobe", A),
    (424, "pidfd_send_signal", W),
    (425, "io_uring_setup", W),
    (426, "io_uring_enter", W),
    (427, "io_uring_register", W),
    (428, "open_tree", W),
    (429, "move_mount", W),
    (430, "fsopen", W),
    (431, "fsconfig", W),
    (432, "fsmount", W),
    (433, "fspick", W),
    (434, "pidfd_open", A),
    (435, "clone3", A),
    (436, "close_range", A),
    (437, "openat2", W),
    (438, "pidfd_getfd", W),
    (439, "faccessat2", A),
    (440, "process_madvise", A),
    (441, "epoll_pwait2", A),
    (442, "mount_setattr", W),
    (443, "quotactl_fd", W),
    (444, "landlock_create_ruleset", A),
    (445, "landlock_add_rule", A),
    (446, "landlock_restrict_self", A),
    (447, "memfd_secret", A),
    (448, "process_mrelease", A),
    (449, "futex_waitv", A),
    (450, "set_mempolicy_home_node", A),
    (451, "cachestat", A),
    (452, "fchmodat2", W),
    (453, "map_shadow_stack", A),
    (454, "futex_wake", A),
    (455, "futex_wait", A),
    (456, "futex_requeue", A),
    (457, "statmount", A),
    (458, "listmount", A),
    (459, "lsm_get_self_attr", A),
    (460, "lsm_set_self_attr", A),
    (461, "lsm_list_modules", A),
    (462, "mseal", A),
    (463, "setxattrat", W),
    (464, "getxattrat", A),
    (465, "listxattrat", A),
    (466, "removexattrat", W),
    (467, "open_tree_attr", W),
    (468, "file_getattr", A),
    (469, "file_setattr", W),
];

const CWD0: &[(Option<usize>, usize)] = &[(None, 0)];
const CWD1: &[(Option<usize>, usize)] = &[(None, 1)];
const CWD01: &[(Option<usize>, usize)] = &[(None, 0), (None, 1)];
const AT01: &[(Option<usize>, usize)] = &[(Some(0), 1)];
const AT12: &[(Option<usize>, usize)] = &[(Some(1), 2)];
const AT23: &[(Option<usize>, usize)] = &[(Some(2), 3)];
const AT01_23: &[(Option<usize>, usize)] = &[(Some(0), 1), (Some(2), 3)];

const fn wr(targets: &'static [(Option<usize>, usize)], follows: bool) -> Watch {
    Watch::Write(PathArgs { targets, link_source: None, follows })
}

/// Syscalls and their [`Watch`]; the argument conditions are in [`watch_rules`].
fn syscall_table() -> Vec<(i64, Watch)> {
    use SyscallClass as C;
    use libc::*;
    let mut t: Vec<(i64, Watch)> = vec![
        (SYS_ptrace, Watch::Class(C::Ptrace)),
        (SYS_process_vm_readv, Watch::Class(C::Ptrace)),
        (SYS_process_vm_writev, Watch::Class(C::Ptrace)),
        (SYS_kcmp, Watch::Class(C::Ptrace)),
        (SYS_pidfd_getfd, Watch::Class(C::Ptrace)),
        (SYS_mount, Watch::Class(C::Mount)),
        (SYS_umount2, Watch::Class(C::Mount)),
        (SYS_pivot_root, Watch::Class(C::Mount)),
        (SYS_chroot, Watch::Class(C::Mount)),
        (SYS_fsopen, Watch::Class(C::Mount)),
        (SYS_fsconfig, Watch::Class(C::Mount)),
        (SYS_fsmount, Watch::Class(C::Mount)),
        (SYS_fspick, Watch::Class(C::Mount)),
        (SYS_move_mount, Watch::Class(C::Mount)),
        (SYS_open_tree, Watch::Class(C::Mount)),
        (nr::OPEN_TREE_ATTR, Watch::Class(C::Mount)),
        (SYS_mount_setattr, Watch::Class(C::Mount)),
        (SYS_unshare, Watch::Class(C::Namespaces)),
        (SYS_setns, Watch::Class(C::Namespaces)),
        (SYS_clone, Watch::Class(C::Namespaces)),
        (SYS_add_key, Watch::Class(C::Keyring)),
        (SYS_request_key, Watch::Class(C::Keyring)),
        (SYS_keyctl, Watch::Class(C::Keyring)),
        (SYS_bpf, Watch::Class(C::Bpf)),
        (SYS_io_uring_setup, Watch::Class(C::IoUring)),
        (SYS_io_uring_enter, Watch::Class(C::IoUring)),
        (SYS_io_uring_register, Watch::Class(C::IoUring)),
        (SYS_userfaultfd, Watch::Class(C::Userfaultfd)),
        (SYS_perf_event_open, Watch::Class(C::Perf)),
        (SYS_init_module, Watch::Class(C::KernelModules)),
        (SYS_finit_module, Watch::Class(C::KernelModules)),
        (SYS_delete_module, Watch::Class(C::KernelModules)),
        (SYS_kexec_load, Watch::Class(C::KernelModules)),
        (SYS_kexec_file_load, Watch::Class(C::KernelModules)),
        (SYS_reboot, Watch::Class(C::SystemAdmin)),
        (SYS_swapon, Watch::Class(C::SystemAdmin)),
        (SYS_swapoff, Watch::Class(C::SystemAdmin)),
        (SYS_acct, Watch::Class(C::SystemAdmin)),
        (SYS_quotactl, Watch::Class(C::SystemAdmin)),
        (SYS_quotactl_fd, Watch::Class(C::SystemAdmin)),
        (SYS_syslog, Watch::Class(C::SystemAdmin)),
        (SYS_vhangup, Watch::Class(C::SystemAdmin)),
        (SYS_fanotify_init, Watch::Class(C::SystemAdmin)),
        (SYS_fanotify_mark, Watch::Class(C::SystemAdmin)),
        (SYS_settimeofday, Watch::Class(C::SystemTime)),
        (SYS_clock_settime, Watch::Class(C::SystemTime)),
        (SYS_clock_adjtime, Watch::Class(C::SystemTime)),
        (SYS_adjtimex, Watch::Class(C::SystemTime)),
        (SYS_iopl, Watch::Class(C::RawIo)),
        (SYS_ioperm, Watch::Class(C::RawIo)),
        (SYS_modify_ldt, Watch::Class(C::LegacyAbi)),
        (SYS_uselib, Watch::Class(C::LegacyAbi)),
        (SYS_personality, Watch::Class(C::LegacyAbi)),
        (SYS_open_by_handle_at, Watch::Class(C::FileHandles)),
        (SYS_ioctl, Watch::Class(C::TtyInjection)),
        (SYS_shmget, Watch::Class(C::Ipc)),
        (SYS_shmat, Watch::Class(C::Ipc)),
        (SYS_shmctl, Watch::Class(C::Ipc)),
        (SYS_semget, Watch::Class(C::Ipc)),
        (SYS_semop, Watch::Class(C::Ipc)),
        (SYS_semtimedop, Watch::Class(C::Ipc)),
        (SYS_semctl, Watch::Class(C::Ipc)),
        (SYS_msgget, Watch::Class(C::Ipc)),
        (SYS_msgsnd, Watch::Class(C::Ipc)),
        (SYS_msgrcv, Watch::Class(C::Ipc)),
        (SYS_msgctl, Watch::Class(C::Ipc)),
        (SYS_mq_open, Watch::Class(C::Ipc)),
        (SYS_mq_unlink, Watch::Class(C::Ipc)),
        (SYS_socket, Watch::Socket),
        (SYS_socketpair, Watch::Socket),
        (SYS_connect, Watch::Connect),
        (SYS_sendto, Watch::Connect),
        (SYS_sendmsg, Watch::SendMsg),
        (SYS_sendmmsg, Watch::SendMsg),
        (SYS_exit_group, Watch::Barrier),
        (SYS_kill, Watch::Barrier),
        (SYS_tkill, Watch::Barrier),
        (SYS_tgkill, Watch::Barrier),
        (SYS_rt_sigqueueinfo, Watch::Barrier),
        (SYS_rt_tgsigqueueinfo, Watch::Barrier),
        (SYS_pidfd_send_signal, Watch::Barrier),
        (SYS_execve, Watch::Exec),
        (SYS_execveat, Watch::Exec),
        (SYS_open, wr(CWD0, true)),
        (SYS_creat, wr(CWD0, true)),
        (SYS_openat, wr(AT01, true)),
        (SYS_openat2, wr(AT01, true)),
        (SYS_mkdir, wr(CWD0, false)),
        (SYS_mkdirat, wr(AT01, false)),
        (SYS_rmdir, wr(CWD0, false)),
        (SYS_unlink, wr(CWD0, false)),
        (SYS_unlinkat, wr(AT01, false)),
        (SYS_rename, wr(CWD01, false)),
        (SYS_renameat, wr(AT01_23, false)),
        (SYS_renameat2, wr(AT01_23, false)),
        (SYS_symlink, wr(CWD1, false)),
        (SYS_symlinkat, wr(AT12, false)),
        (SYS_chmod, wr(CWD0, true)),
        (SYS_fchmodat, wr(AT01, true)),
        (nr::FCHMODAT2, wr(AT01, true)),
        (SYS_chown, wr(CWD0, true)),
        (SYS_lchown, wr(CWD0, false)),
        (SYS_fchownat, wr(AT01, true)),
        (SYS_truncate, wr(CWD0, true)),
        (SYS_setxattr, wr(CWD0, true)),
        (SYS_lsetxattr, wr(CWD0, false)),
        (SYS_removexattr, wr(CWD0, true)),
        (SYS_lremovexattr, wr(CWD0, false)),
        // The *at variants of Linux 6.13/6.17 change attributes (ACLs, inode
        // flags, project ids) by path: writes like setxattr.
        (nr::SETXATTRAT, wr(AT01, true)),
        (nr::REMOVEXATTRAT, wr(AT01, true)),
        (nr::FILE_SETATTR, wr(AT01, true)),
        (SYS_fchmod, Watch::WriteFd(0)),
        (SYS_fchown, Watch::WriteFd(0)),
        (SYS_fsetxattr, Watch::WriteFd(0)),
        (SYS_fremovexattr, Watch::WriteFd(0)),
        (SYS_utimensat, wr(AT01, true)),
        (SYS_futimesat, wr(AT01, true)),
        (SYS_utime, wr(CWD0, true)),
        (SYS_utimes, wr(CWD0, true)),
    ];
    t.push((SYS_link, Watch::Write(PathArgs { targets: CWD1, link_source: Some((None, 0)), follows: false })));
    t.push((SYS_linkat, Watch::Write(PathArgs { targets: AT23, link_source: Some((Some(0), 1)), follows: false })));
    // mknod of devices is a class; of FIFOs and regular files a write.
    t.push((SYS_mknod, Watch::Class(C::DeviceNodes)));
    t.push((SYS_mknodat, Watch::Class(C::DeviceNodes)));
    t
}

/// The syscall's [`Watch`], for the supervisor. Calls whose meaning depends on
/// arguments (mknod) are refined with [`refine`].
pub fn watch_of(nr: i64) -> Option<Watch> {
    syscall_table().into_iter().find(|(n, _)| *n == nr).map(|(_, w)| w)
}

/// The syscall's [`Kind`]; `None` for a number the table does not know (the
/// guard answers ENOSYS).
pub fn kind_of(nr: i64) -> Option<Kind> {
    TABLE.iter().find(|(n, _, _)| *n == nr).map(|(_, _, k)| *k)
}

/// The argument holding `AT_SYMLINK_NOFOLLOW` (and `AT_EMPTY_PATH`) of the
/// path-writing `*at` calls that take one.
fn at_flags_arg(nr: i64) -> Option<usize> {
    match nr {
        libc::SYS_fchownat | nr::FILE_SETATTR => Some(4),
        libc::SYS_utimensat | nr::FCHMODAT2 => Some(3),
        nr::SETXATTRAT | nr::REMOVEXATTRAT => Some(2),
        _ => None,
    }
}

/// Refine a notification whose meaning depends on its arguments.
pub fn refine(nr: i64, args: &[u64; 6], watch: Watch) -> Watch {
    if nr == libc::SYS_ioctl && matches!(args[1] as u32 as u64, FS_IOC_SETFLAGS | FS_IOC_FSSETXATTR) {
        // chattr-style inode flags (immutable, append-only, nodump, …) of the
        // descriptor's file: a change like fchmod.
        return Watch::WriteFd(0);
    }
    if nr == libc::SYS_utimensat && args[1] == 0 {
        // utimensat(fd, NULL, ...) changes the times of the descriptor's file.
        return Watch::WriteFd(0);
    }
    if let (Watch::Write(p), Some(a)) = (watch, at_flags_arg(nr))
        && args[a] & libc::AT_SYMLINK_NOFOLLOW as u64 != 0
    {
        return Watch::Write(PathArgs { follows: false, ..p });
    }
    let mode = match nr {
        libc::SYS_mknod => args[1],
        libc::SYS_mknodat => args[2],
        _ => return watch,
    } as u32;
    let fmt = mode & libc::S_IFMT;
    if fmt == libc::S_IFCHR || fmt == libc::S_IFBLK {
        watch
    } else if nr == libc::SYS_mknod {
        wr(CWD0, false)
    } else {
        wr(AT01, false)
    }
}

/// The syscall's name, for reports.
pub fn syscall_name(nr: i64) -> String {
    TABLE.iter().find(|(n, _, _)| *n == nr).map(|(_, s, _)| s.to_string()).unwrap_or_else(|| format!("syscall#{nr}"))
}

/// `personality(2)` arguments that are allowed without a notification: the
/// query (0xffffffff), PER_LINUX and PER_LINUX32, with ADDR_NO_RANDOMIZE (setarch
/// -R, debuggers) and UNAME26. Everything else (READ_IMPLIES_EXEC, MMAP_PAGE_ZERO,
/// ADDR_COMPAT_LAYOUT, other execution domains…) is the `legacy_abi` class: it
/// weakens the memory protections of the task's own later execs.
pub const PERSONALITY_ALLOWED: [u64; 9] =
    [0xffff_ffff, 0x0, 0x8, 0x2_0000, 0x2_0008, 0x4_0000, 0x4_0008, 0x6_0000, 0x6_0008];

/// Namespace flags of clone(2) that the `namespaces` class forbids.
const CLONE_NS_FLAGS: [u64; 8] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
    0x80, // CLONE_NEWTIME
];

fn c(arg: u8, len: Len, op: Op, value: u64) -> Result<Cond, seccompiler::BackendError> {
    Cond::new(arg, len, op, value)
}

fn rule(conds: Vec<Cond>) -> Result<SeccompRule, seccompiler::BackendError> {
    SeccompRule::new(conds)
}

/// The argument conditions under which each watched syscall is notified
/// (empty rule list: always).
///
/// Without namespaces (`namespaces` false) `connect`/`sendto` are watched in
/// every network mode: a pathname unix socket of the host (a mounted
/// docker.sock) is judged by its path ([`Watch::Connect`]).
///
/// With `payloads` (canaries planted) every `sendto`, `sendmsg` and
/// `sendmmsg` is watched, in every network mode, for its payload
/// (`canary.leak`); `write` to a socket is not (BPF cannot tell a socket from
/// a file, and every write would be notified).
pub fn watch_rules(
    denied: &[SyscallClass],
    network: NetworkMode,
    namespaces: bool,
    payloads: bool,
) -> Result<BTreeMap<i64, Vec<SeccompRule>>, seccompiler::BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let o_write = [libc::O_WRONLY, libc::O_RDWR, libc::O_CREAT, libc::O_TRUNC, libc::O_APPEND];
    for (nr, watch) in syscall_table() {
        let r: Vec<SeccompRule> = match watch {
            // ioctl: terminal injection (a class) and inode-flag changes (a write,
            // judged by the descriptor's file like fchmod) are watched separately.
            Watch::Class(SyscallClass::TtyInjection) => {
                let mut r = vec![
                    rule(vec![c(1, Len::Dword, Op::Eq, FS_IOC_SETFLAGS)?])?,
                    rule(vec![c(1, Len::Dword, Op::Eq, FS_IOC_FSSETXATTR)?])?,
                ];
                if denied.contains(&SyscallClass::TtyInjection) {
                    r.push(rule(vec![c(1, Len::Dword, Op::Eq, libc::TIOCSTI)?])?);
                    r.push(rule(vec![c(1, Len::Dword, Op::Eq, libc::TIOCLINUX)?])?);
                    // Stopping the terminal's output (tcflow TCOOFF) or taking it
                    // exclusively would leave orchestra, and the caller, unable to
                    // write to it after the task (review F3).
                    r.push(rule(vec![c(1, Len::Dword, Op::Eq, libc::TCXONC)?])?);
                    r.push(rule(vec![c(1, Len::Dword, Op::Eq, libc::TIOCEXCL)?])?);
                }
                r
            }
            Watch::Class(class) if !denied.contains(&class) => continue,
            // Only the flags outside PERSONALITY_ALLOWED are notified.
            Watch::Class(SyscallClass::LegacyAbi) if nr == libc::SYS_personality => {
                vec![rule(PERSONALITY_ALLOWED.iter().map(|v| c(0, Len::Dword, Op::Ne, *v)).collect::<Result<_, _>>()?)?]
            }
            Watch::Class(SyscallClass::Namespaces) if nr == libc::SYS_clone => CLONE_NS_FLAGS
                .iter()
                .map(|f| rule(vec![c(0, Len::Qword, Op::MaskedEq(*f), *f)?]))
                .collect::<Result<_, _>>()?,
            // Every mknod is notified; the supervisor tells devices (a violation)
            // from FIFOs and files (a write to inspect), see `refine`.
            Watch::Class(_) => vec![],
            Watch::Socket => socket_rules(network)?,
            Watch::Connect if payloads && nr == libc::SYS_sendto => vec![],
            Watch::Connect if network == NetworkMode::Host && namespaces => continue,
            // sendto only with an explicit destination (arg 4): the connected case
            // was judged at connect().
            Watch::Connect if nr == libc::SYS_sendto => vec![rule(vec![c(4, Len::Qword, Op::Ne, 0)?])?],
            Watch::SendMsg if network == NetworkMode::Host && namespaces && !payloads => continue,
            Watch::Barrier => barrier_rules(nr)?,
            Watch::Connect | Watch::SendMsg | Watch::Exec | Watch::WriteFd(_) => vec![],
            Watch::Write(_) => {
                let flags_arg = match nr {
                    libc::SYS_open => Some(1),
                    libc::SYS_openat => Some(2),
                    _ => None,
                };
                match flags_arg {
                    Some(a) => o_write
                        .iter()
                        .map(|f| rule(vec![c(a, Len::Dword, Op::MaskedEq(*f as u64), *f as u64)?]))
                        .collect::<Result<_, _>>()?,
                    None => vec![],
                }
            }
        };
        rules.insert(nr, r);
    }
    Ok(rules)
}

/// Signals that never end a process (0 only probes; SIGCHLD, SIGCONT, SIGURG
/// and SIGWINCH are ignored by default and cannot be made fatal): sending them
/// needs no barrier. Go's runtime preempts goroutines with SIGURG, often.
const HARMLESS_SIGNALS: [u64; 5] =
    [0, libc::SIGCHLD as u64, libc::SIGCONT as u64, libc::SIGURG as u64, libc::SIGWINCH as u64];

/// When a [`Watch::Barrier`] call is notified: `exit_group` always; a signal
/// sending call unless its signal is one of [`HARMLESS_SIGNALS`].
fn barrier_rules(nr: i64) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    let sig_arg = match nr {
        libc::SYS_kill | libc::SYS_tkill | libc::SYS_rt_sigqueueinfo | libc::SYS_pidfd_send_signal => 1,
        libc::SYS_tgkill | libc::SYS_rt_tgsigqueueinfo => 2,
        _ => return Ok(vec![]),
    };
    Ok(vec![rule(HARMLESS_SIGNALS.iter().map(|s| c(sig_arg, Len::Dword, Op::Ne, *s)).collect::<Result<_, _>>()?)?])
}

/// Socket calls the supervisor is notified of (and denies), by network mode.
///
/// `AF_NETLINK` with protocol `NETLINK_ROUTE` (0) is allowed in every mode and
/// of any type (`SOCK_RAW` as npm and glibc's `if_nameindex` open it, or
/// `SOCK_DGRAM`): it reads the interfaces and routes of the task's network
/// namespace, and a change needs `CAP_NET_ADMIN`, which the task never holds.
/// Every other netlink protocol stays denied outside `host` mode.
fn socket_rules(network: NetworkMode) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    let unix = libc::AF_UNIX as u64;
    let netlink = libc::AF_NETLINK as u64;
    let raw = libc::SOCK_RAW as u64;
    let packet = libc::AF_PACKET as u64;
    let raw_not_local = || -> Result<SeccompRule, seccompiler::BackendError> {
        rule(vec![
            c(0, Len::Dword, Op::Ne, unix)?,
            c(0, Len::Dword, Op::Ne, netlink)?,
            c(1, Len::Dword, Op::MaskedEq(0xf), raw)?,
        ])
    };
    let netlink_not_route = || -> Result<SeccompRule, seccompiler::BackendError> {
        rule(vec![c(0, Len::Dword, Op::Eq, netlink)?, c(2, Len::Dword, Op::Ne, 0)?])
    };
    Ok(match network {
        NetworkMode::None => {
            vec![rule(vec![c(0, Len::Dword, Op::Ne, unix)?, c(0, Len::Dword, Op::Ne, netlink)?])?, netlink_not_route()?]
        }
        NetworkMode::Loopback => vec![
            rule(vec![
                c(0, Len::Dword, Op::Ne, unix)?,
                c(0, Len::Dword, Op::Ne, libc::AF_INET as u64)?,
                c(0, Len::Dword, Op::Ne, libc::AF_INET6 as u64)?,
                c(0, Len::Dword, Op::Ne, netlink)?,
            ])?,
            netlink_not_route()?,
            raw_not_local()?,
        ],
        NetworkMode::Host => vec![rule(vec![c(0, Len::Dword, Op::Eq, packet)?])?, raw_not_local()?],
    })
}

/// Replace every `SECCOMP_RET_TRACE` return of `prog` with `SECCOMP_RET_USER_NOTIF`.
pub fn rewrite_trace_to_notify(prog: &mut BpfProgram) -> usize {
    const BPF_RET_K: u16 = 0x06;
    let mut n = 0;
    for ins in prog.iter_mut() {
        if ins.code == BPF_RET_K && ins.k & libc::SECCOMP_RET_ACTION_FULL == libc::SECCOMP_RET_TRACE {
            ins.k = libc::SECCOMP_RET_USER_NOTIF;
            n += 1;
        }
    }
    n
}

/// Why the seccomp filters could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// seccompiler refused the rules.
    #[error("seccomp filter: {0}")]
    Backend(#[from] seccompiler::BackendError),
    /// The compiled watch filter notifies nothing.
    #[error("seccomp filter: watch filter has no notification return")]
    NoNotification,
}

/// The filters for `plan`, in installation order. The last one is the watch
/// filter (installed with a listener).
///
/// With `plan.observe` false (only for `orchestra bench`'s baseline), the watch
/// filter denies the same classes and sockets with EPERM and inspects nothing:
/// the same enforcement, nothing reported.
pub fn build(plan: &JailPlan) -> Result<Vec<BpfProgram>, FilterError> {
    let (denied, network) = (plan.denied.as_slice(), plan.network);
    let arch = TargetArch::x86_64;
    let mut out = Vec::new();
    if let Some(f) = enosys_filter(denied) {
        out.push(f);
    }
    out.push(guard(plan.observe));
    let mut rules = watch_rules(denied, network, plan.namespaces, !plan.canaries.is_empty())?;
    if !plan.observe {
        rules.retain(|nr, _| matches!(watch_of(*nr), Some(Watch::Class(_)) | Some(Watch::Socket)));
        let f = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)?;
        out.push(BpfProgram::try_from(f)?);
        return Ok(out);
    }
    let f = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Trace(0), arch)?;
    let mut prog = BpfProgram::try_from(f)?;
    if rewrite_trace_to_notify(&mut prog) == 0 {
        return Err(FilterError::NoNotification);
    }
    out.push(notify_foreign_abi(prog));
    Ok(out)
}

// Classic BPF opcodes of the hand-written programs.
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JGT_K: u16 = 0x25;
const RET_K: u16 = 0x06;
/// `AUDIT_ARCH_X86_64`, the only architecture the filters' numbers mean.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// The x32 ABI's bit in a syscall number.
pub const X32_BIT: u32 = 0x4000_0000;

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> seccompiler::sock_filter {
    seccompiler::sock_filter { code, jt, jf, k }
}

/// The calls of [`ENOSYS_WHEN_DENIED`] whose class `denied` lists fail with
/// ENOSYS (x86_64 only: a foreign-architecture call goes on to the watch
/// filter, which reports it); `None` when there is none. ERRNO takes
/// precedence over the watch filter's notification, so they are not reported.
fn enosys_filter(denied: &[SyscallClass]) -> Option<BpfProgram> {
    let calls = enosys_calls(denied);
    if calls.is_empty() {
        return None;
    }
    // Three loads and tests, one test per call, then ALLOW (reached by falling
    // through past the last test) and ENOSYS.
    let (allow, enosys) = (3 + calls.len(), 4 + calls.len());
    let to = |at: usize, dst: usize| (dst - at - 1) as u8;
    let mut p = vec![
        ins(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        ins(JEQ_K, 0, to(1, allow), AUDIT_ARCH_X86_64),
        ins(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
    ];
    for (i, (nr, _)) in calls.iter().enumerate() {
        p.push(ins(JEQ_K, to(3 + i, enosys), 0, *nr as u32));
    }
    p.push(ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    p.push(ins(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32));
    Some(p)
}

/// Prefix the watch filter `prog` with: a foreign architecture or an x32
/// number is notified (the supervisor reports `seccomp.abi` and denies it).
/// The program's own checks follow unchanged (its jumps are relative).
fn notify_foreign_abi(prog: BpfProgram) -> BpfProgram {
    let mut p = vec![
        ins(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        ins(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_USER_NOTIF),
        ins(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        ins(JGE_K, 0, 1, X32_BIT),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_USER_NOTIF),
    ];
    p.extend(prog);
    p
}

/// The ranges `lo..=hi` of numbers [`TABLE`] lists as implemented (allowed or
/// watched), ascending.
pub fn known_ranges() -> Vec<(u32, u32)> {
    let mut known: Vec<u32> = TABLE.iter().filter(|(_, _, k)| *k != Kind::Gone).map(|(n, _, _)| *n as u32).collect();
    known.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for n in known {
        match out.last_mut() {
            Some((_, hi)) if *hi + 1 == n => *hi = n,
            _ => out.push((n, n)),
        }
    }
    out
}

/// A hand-written filter: ENOSYS for every number outside [`known_ranges`]
/// (unknown to this table: newer than it, never assigned, or removed). A
/// foreign architecture or a number with the x32 bit set is left to the watch
/// filter, which notifies it (`observed`); without a supervisor it kills the
/// process. (ERRNO or KILL here would take precedence over the notification.)
fn guard(observed: bool) -> BpfProgram {
    let ranges = known_ranges();
    // The checks, then three returns: ENOSYS (reached by falling through past
    // the last range), ALLOW, and the foreign-ABI answer.
    let checks = 4 + 2 * ranges.len();
    let (enosys, allow, kill) = (checks, checks + 1, checks + 2);
    let foreign = if observed { libc::SECCOMP_RET_ALLOW } else { libc::SECCOMP_RET_KILL_PROCESS };
    // A jump offset from instruction `at` to instruction `dst` (relative to the next one).
    let to = |at: usize, dst: usize| (dst - at - 1) as u8;
    let mut p = Vec::with_capacity(checks + 3);
    p.push(ins(LD_W_ABS, 0, 0, 4)); // seccomp_data.arch
    p.push(ins(JEQ_K, 0, to(1, kill), AUDIT_ARCH_X86_64));
    p.push(ins(LD_W_ABS, 0, 0, 0)); // seccomp_data.nr
    p.push(ins(JGE_K, to(3, kill), 0, X32_BIT));
    for (lo, hi) in ranges {
        let at = p.len();
        // Below this range (and above the previous one): unknown.
        p.push(ins(JGE_K, 0, to(at, enosys), lo));
        // Within it: known; above it: the next range decides.
        p.push(ins(JGT_K, 0, to(at + 1, allow), hi));
    }
    p.push(ins(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32));
    p.push(ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    p.push(ins(RET_K, 0, 0, foreign));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(denied: &[SyscallClass], network: NetworkMode, namespaces: bool) -> JailPlan {
        JailPlan {
            namespaces,
            network,
            writable: vec!["/work".into()],
            denied: denied.to_vec(),
            ..JailPlan::for_tests()
        }
    }

    #[test]
    fn every_class_has_syscalls_and_names() {
        for class in SyscallClass::ALL {
            assert!(syscall_table().iter().any(|(_, w)| *w == Watch::Class(class)), "{class:?}");
        }
        for (nr, _) in syscall_table() {
            assert!(!syscall_name(nr).starts_with("syscall#"), "{nr} unnamed");
        }
    }

    #[test]
    fn the_table_is_ordered_unique_and_agrees_with_the_watch_list() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0), "TABLE must be sorted by number, without duplicates");
        assert_eq!(TABLE.last().map(|t| t.0), Some(MAX_KNOWN));
        let watched: Vec<i64> = syscall_table().iter().map(|(n, _)| *n).collect();
        for (n, name, kind) in TABLE {
            assert_eq!(*kind == Kind::Watched, watched.contains(n), "{name} ({n}): Kind and the watch list disagree");
        }
        for n in &watched {
            assert_eq!(kind_of(*n), Some(Kind::Watched), "watched number {n} missing from TABLE");
        }
        let names: std::collections::HashSet<&str> = TABLE.iter().map(|t| t.1).collect();
        assert_eq!(names.len(), TABLE.len(), "duplicate names");
    }

    #[test]
    fn new_syscalls_are_classified() {
        use SyscallClass as C;
        assert_eq!(watch_of(nr::OPEN_TREE_ATTR), Some(Watch::Class(C::Mount)));
        assert_eq!(watch_of(libc::SYS_modify_ldt), Some(Watch::Class(C::LegacyAbi)));
        assert_eq!(watch_of(libc::SYS_fanotify_init), Some(Watch::Class(C::SystemAdmin)));
        assert_eq!(watch_of(libc::SYS_quotactl_fd), Some(Watch::Class(C::SystemAdmin)));
        assert_eq!(watch_of(libc::SYS_shmat), Some(Watch::Class(C::Ipc)));
        for n in [nr::SETXATTRAT, nr::REMOVEXATTRAT, nr::FILE_SETATTR] {
            assert!(matches!(watch_of(n), Some(Watch::Write(_))), "{}", syscall_name(n));
        }
        for n in [
            nr::GETXATTRAT,
            nr::LISTXATTRAT,
            nr::FILE_GETATTR,
            nr::MSEAL,
            nr::LISTMOUNT,
            nr::STATMOUNT,
            nr::CACHESTAT,
            nr::MAP_SHADOW_STACK,
            nr::FUTEX_WAIT,
            libc::SYS_landlock_restrict_self,
            libc::SYS_memfd_secret,
            libc::SYS_process_mrelease,
        ] {
            assert_eq!(kind_of(n), Some(Kind::Allowed), "{}", syscall_name(n));
        }
        assert_eq!(kind_of(libc::SYS_kexec_file_load), Some(Kind::Watched));
        assert_eq!(kind_of(MAX_KNOWN + 1), None);
        assert_eq!(kind_of(400), None, "never assigned on x86_64");
        assert_eq!(syscall_name(nr::FILE_SETATTR), "file_setattr");
    }

    #[test]
    fn nofollow_flags_of_the_at_calls_are_honoured() {
        let mut args = [0u64; 6];
        args[2] = libc::AT_SYMLINK_NOFOLLOW as u64;
        let w = refine(nr::SETXATTRAT, &args, watch_of(nr::SETXATTRAT).unwrap());
        assert!(matches!(w, Watch::Write(p) if !p.follows));
        let w = refine(nr::SETXATTRAT, &[0; 6], watch_of(nr::SETXATTRAT).unwrap());
        assert!(matches!(w, Watch::Write(p) if p.follows));
    }

    /// Run classic BPF `prog` on (arch, nr): enough of the instruction set for the guard.
    fn run_bpf(prog: &[seccompiler::sock_filter], arch: u32, nr: u32) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = &prog[pc];
            pc += 1;
            match i.code {
                0x20 => acc = if i.k == 4 { arch } else { nr },
                0x15 | 0x35 | 0x25 => {
                    let t = match i.code {
                        0x15 => acc == i.k,
                        0x35 => acc >= i.k,
                        _ => acc > i.k,
                    };
                    pc += if t { i.jt } else { i.jf } as usize;
                }
                0x06 => return i.k,
                other => panic!("unexpected BPF opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn the_guard_allows_exactly_the_known_numbers() {
        let g = guard(true);
        let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        for nr in 0..1024u32 {
            let want = match kind_of(nr as i64) {
                Some(Kind::Allowed | Kind::Watched) => libc::SECCOMP_RET_ALLOW,
                Some(Kind::Gone) | None => enosys,
            };
            assert_eq!(run_bpf(&g, 0xc000_003e, nr), want, "{nr} ({})", syscall_name(nr as i64));
        }
        // Left to the watch filter (which notifies them); killed without a supervisor.
        assert_eq!(run_bpf(&g, 0xc000_003e, 0x4000_0000 | 1), libc::SECCOMP_RET_ALLOW, "x32");
        assert_eq!(run_bpf(&g, 0x4000_0003, 1), libc::SECCOMP_RET_ALLOW, "i386");
        let unobserved = guard(false);
        assert_eq!(run_bpf(&unobserved, 0xc000_003e, 0x4000_0000 | 1), libc::SECCOMP_RET_KILL_PROCESS, "x32");
        assert_eq!(run_bpf(&unobserved, 0x4000_0003, 1), libc::SECCOMP_RET_KILL_PROCESS, "i386");
    }

    #[test]
    fn foreign_abi_calls_are_notified_and_clone3_is_enosys_on_x86_64_only() {
        let watch = notify_foreign_abi(vec![ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW)]);
        assert_eq!(run_bpf(&watch, AUDIT_ARCH_X86_64, X32_BIT | 39), libc::SECCOMP_RET_USER_NOTIF, "x32 getpid");
        assert_eq!(run_bpf(&watch, 0x4000_0003, 20), libc::SECCOMP_RET_USER_NOTIF, "i386 getpid");
        assert_eq!(run_bpf(&watch, AUDIT_ARCH_X86_64, 39), libc::SECCOMP_RET_ALLOW, "x86_64 getpid");
        let c3 = enosys_filter(&[SyscallClass::Namespaces]).unwrap();
        let nr3 = libc::SYS_clone3 as u32;
        assert_eq!(run_bpf(&c3, AUDIT_ARCH_X86_64, nr3), libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        assert_eq!(run_bpf(&c3, AUDIT_ARCH_X86_64, 56), libc::SECCOMP_RET_ALLOW, "clone");
        assert_eq!(run_bpf(&c3, 0x4000_0003, nr3), libc::SECCOMP_RET_ALLOW, "left to the watch filter");
    }

    #[test]
    fn io_uring_setup_is_enosys_and_enter_and_register_are_left_to_the_watch_filter() {
        let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        let f = enosys_filter(&SyscallClass::ALL).unwrap();
        let setup = libc::SYS_io_uring_setup as u32;
        assert_eq!(run_bpf(&f, AUDIT_ARCH_X86_64, setup), enosys);
        assert_eq!(run_bpf(&f, AUDIT_ARCH_X86_64, libc::SYS_clone3 as u32), enosys);
        for nr in [libc::SYS_io_uring_enter, libc::SYS_io_uring_register, libc::SYS_clone, libc::SYS_getpid] {
            assert_eq!(run_bpf(&f, AUDIT_ARCH_X86_64, nr as u32), libc::SECCOMP_RET_ALLOW, "{nr}");
        }
        assert_eq!(run_bpf(&f, 0x4000_0003, setup), libc::SECCOMP_RET_ALLOW, "left to the watch filter");
        let only_uring = enosys_filter(&[SyscallClass::IoUring]).unwrap();
        assert_eq!(run_bpf(&only_uring, AUDIT_ARCH_X86_64, setup), enosys);
        assert_eq!(run_bpf(&only_uring, AUDIT_ARCH_X86_64, libc::SYS_clone3 as u32), libc::SECCOMP_RET_ALLOW);
        assert!(enosys_filter(&[SyscallClass::Ptrace]).is_none(), "no class of the table denied: no filter");
        // Still watched: a call that slips past (none should) is a violation.
        let rules = watch_rules(&[SyscallClass::IoUring], NetworkMode::None, true, false).unwrap();
        for nr in [libc::SYS_io_uring_setup, libc::SYS_io_uring_enter, libc::SYS_io_uring_register] {
            assert!(rules.contains_key(&nr), "{nr}");
        }
    }

    /// The running kernel's x86_64 entry points (`__x64_sys_*` in /proc/kallsyms)
    /// against the table: every name the kernel implements is in TABLE (which gives
    /// it a Kind), or is an entry point of another ABI that has no x86_64 number.
    /// Fails when a kernel brings a syscall this table does not know.
    #[test]
    fn every_syscall_of_the_running_kernel_is_classified() {
        let syms =
            std::fs::read_to_string("/proc/kallsyms").expect("/proc/kallsyms is needed to list the kernel's syscalls");
        let kernel: std::collections::BTreeSet<&str> = syms
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2)?.strip_prefix("__x64_sys_"))
            .filter(|n| !n.contains('.')) // compiler clones: foo.cold
            .collect();
        assert!(kernel.len() > 300, "kallsyms lists {} syscalls: names hidden?", kernel.len());
        // The kernel's name for an x86_64 entry whose table name differs.
        fn alias(n: &str) -> &str {
            match n {
                "umount" => "umount2",
                "newstat" => "stat",
                "newfstat" => "fstat",
                "newlstat" => "lstat",
                "newuname" => "uname",
                other => other,
            }
        }
        let table: std::collections::HashMap<&str, Kind> = TABLE.iter().map(|(_, n, k)| (*n, *k)).collect();
        let mut unknown = Vec::new();
        for n in &kernel {
            match table.get(alias(n)) {
                Some(Kind::Gone) => unknown.push(format!("{n} (marked Gone but implemented)")),
                Some(_) => {}
                None if OTHER_ABIS.contains(n) => {}
                None => unknown.push(n.to_string()),
            }
        }
        assert!(unknown.is_empty(), "syscalls of this kernel that TABLE does not classify: {unknown:?}");
        // And the other way: what the table says is implemented, the kernel has.
        let named: std::collections::HashSet<&str> = kernel.iter().map(|n| alias(n)).collect();
        for (nr, name, kind) in TABLE {
            if *kind != Kind::Gone {
                assert!(named.contains(name), "{name} ({nr}) is not implemented by this kernel");
            }
        }
    }

    /// Generic entry points the x86_64 kernel builds for the i386/compat and
    /// other ABIs; none has an x86_64 number.
    const OTHER_ABIS: &[&str] = &[
        "adjtimex_time32",
        "chown16",
        "clock_adjtime32",
        "clock_getres_time32",
        "clock_gettime32",
        "clock_nanosleep_time32",
        "clock_settime32",
        "fadvise64_64",
        "fchown16",
        "fstatfs64",
        "futex_time32",
        "futimesat_time32",
        "getegid16",
        "geteuid16",
        "getgid16",
        "getgroups16",
        "gethostname",
        "getresgid16",
        "getresuid16",
        "getuid16",
        "ia32_fadvise64",
        "ia32_fadvise64_64",
        "ia32_fallocate",
        "ia32_ftruncate64",
        "ia32_pread64",
        "ia32_pwrite64",
        "ia32_readahead",
        "ia32_sync_file_range",
        "ia32_truncate64",
        "io_getevents_time32",
        "io_pgetevents_time32",
        "ipc",
        "lchown16",
        "llseek",
        "mmap_pgoff",
        "mq_timedreceive_time32",
        "mq_timedsend_time32",
        "nanosleep_time32",
        "ni_syscall",
        "nice",
        "old_getrlimit",
        "old_msgctl",
        "old_readdir",
        "old_semctl",
        "old_shmctl",
        "oldumount",
        "olduname",
        "pciconfig_iobase",
        "pciconfig_read",
        "pciconfig_write",
        "ppoll_time32",
        "pselect6_time32",
        "recv",
        "recvmmsg_time32",
        "rt_sigtimedwait_time32",
        "rtas",
        "s390_ipc",
        "s390_pci_mmio_read",
        "s390_pci_mmio_write",
        "sched_rr_get_interval_time32",
        "semtimedop_time32",
        "send",
        "sendfile64",
        "setfsgid16",
        "setfsuid16",
        "setgid16",
        "setgroups16",
        "setregid16",
        "setresgid16",
        "setresuid16",
        "setreuid16",
        "setuid16",
        "sgetmask",
        "signal",
        "sigpending",
        "sigprocmask",
        "sigsuspend",
        "socketcall",
        "spu_create",
        "spu_run",
        "ssetmask",
        "statfs64",
        "stime",
        "stime32",
        "subpage_prot",
        "sync_file_range2",
        "time32",
        "timer_gettime32",
        "timer_settime32",
        "timerfd_gettime32",
        "timerfd_settime32",
        "utime32",
        "utimensat_time32",
        "utimes_time32",
        "vm86",
        "vm86old",
        "waitpid",
    ];

    /// The kernel headers of the build host (asm/unistd_64.h) agree with the
    /// table on every number they define. Debian 12's linux-libc-dev is 6.1,
    /// older than the 6.18 kernel: numbers above 450 are checked against the
    /// running kernel by `every_syscall_of_the_running_kernel_is_classified` and
    /// tests/jail_setuid_syscalls.rs (`new_syscall_numbers_exist_in_the_running_kernel`).
    #[test]
    fn the_kernel_headers_agree_with_the_table() {
        let path = ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("asm/unistd_64.h (package linux-libc-dev) is needed");
        let text = std::fs::read_to_string(path).unwrap();
        let mut count = 0;
        for l in text.lines() {
            let mut w = l.split_whitespace();
            if let (Some("#define"), Some(name), Some(num)) = (w.next(), w.next(), w.next())
                && let (Some(name), Ok(num)) = (name.strip_prefix("__NR_"), num.parse::<i64>())
            {
                assert_eq!(syscall_name(num), name, "number {num}");
                count += 1;
            }
        }
        assert!(count > 300, "{path}: only {count} numbers");
    }

    #[test]
    fn io_uring_and_ptrace_are_watched_when_denied() {
        let rules = watch_rules(&SyscallClass::ALL, NetworkMode::None, true, false).unwrap();
        assert!(rules.contains_key(&libc::SYS_io_uring_setup));
        assert!(rules.contains_key(&libc::SYS_ptrace));
        let allowed = watch_rules(&[], NetworkMode::None, true, false).unwrap();
        assert!(!allowed.contains_key(&libc::SYS_ptrace));
        assert!(allowed.contains_key(&libc::SYS_socket), "network rules do not depend on classes");
    }

    #[test]
    fn filters_compile_and_notify() {
        let progs = build(&plan(&SyscallClass::ALL, NetworkMode::None, true)).unwrap();
        assert_eq!(progs.len(), 3);
        let watch = progs.last().unwrap();
        assert!(watch.iter().any(|i| i.k == libc::SECCOMP_RET_USER_NOTIF));
        assert!(!watch.iter().any(|i| i.code == 0x06 && i.k & 0xffff0000 == libc::SECCOMP_RET_TRACE));
    }

    #[test]
    fn host_network_does_not_watch_connect_unless_namespace_less() {
        let rules = watch_rules(&SyscallClass::ALL, NetworkMode::Host, true, false).unwrap();
        assert!(!rules.contains_key(&libc::SYS_connect));
        assert!(rules.contains_key(&libc::SYS_socket));
        let rules = watch_rules(&SyscallClass::ALL, NetworkMode::Host, false, false).unwrap();
        assert!(rules.contains_key(&libc::SYS_connect), "a host docker.sock is judged by path");
    }

    #[test]
    fn with_canaries_every_send_is_watched_for_its_payload() {
        let rules = watch_rules(&SyscallClass::ALL, NetworkMode::Host, true, true).unwrap();
        assert!(!rules.contains_key(&libc::SYS_connect));
        for nr in [libc::SYS_sendto, libc::SYS_sendmsg, libc::SYS_sendmmsg] {
            assert_eq!(rules.get(&nr).map(Vec::len), Some(0), "{nr} notified unconditionally");
        }
        let rules = watch_rules(&SyscallClass::ALL, NetworkMode::Loopback, true, false).unwrap();
        assert_eq!(rules.get(&libc::SYS_sendto).map(Vec::len), Some(1), "without canaries: only with an address");
    }
}
