/* A hostile build step: each mode tries one way out of the sandbox (the
 * network, the filesystem through the paths the supervisor must judge, the
 * kernel's interfaces, resources). Built by the test harness with the system
 * gcc (static for the container backends); never part of the product.
 * Prints "ESCAPED ..." when an attempt succeeded, "blocked ..." otherwise,
 * and exits 0 either way (the verdict must come from orchestra, not from us).
 * A mode marked "Benign" is ordinary work that races the supervisor; it says
 * what it did and exits 1 when that was not what it meant to do. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/netlink.h>
#include <linux/openat2.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include "report.h"


static volatile int race_started;
static volatile pid_t race_tid;

static void *race_open(void *path) {
    race_tid = (pid_t)syscall(SYS_gettid);
    race_started = 1;
    report("open for writing while the process exits", open((const char *)path, O_WRONLY | O_CREAT, 0644));
    return NULL;
}

/* Benign work racing its own end (mode "sigpipe-writers"): threads keep
 * creating files in the workspace while their process dies of SIGPIPE. */
static int sp_opens;

static void *sp_writer(void *arg) {
    char name[32];
    snprintf(name, sizeof name, "sigpipe-%d.out", (int)(intptr_t)arg);
    for (;;) {
        int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) close(fd);
        __atomic_fetch_add(&sp_opens, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* One child: THREADS writers, then a write to a pipe nobody reads. */
static void sigpipe_child(int threads) {
    signal(SIGPIPE, SIG_DFL);
    int p[2];
    if (pipe(p) < 0) _exit(98);
    close(p[0]);
    for (int i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, sp_writer, (void *)(intptr_t)i)) _exit(97);
    }
    /* Every writer is busy opening (its calls go to the supervisor). */
    while (__atomic_load_n(&sp_opens, __ATOMIC_RELAXED) < 8 * threads) sched_yield();
    if (write(p[1], "x", 1) < 0) { }
    _exit(96); /* not reached: SIGPIPE ended the process */
}

/* A thread bomb (mode "threadbomb"): idle threads with small stacks (so that
 * RLIMIT_AS is not what stops them), one per millisecond. */
static void *idle_thread(void *unused) {
    (void)unused;
    for (;;) pause();
    return NULL;
}

static int send_abstract(const char *name, int many) {
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    size_t n = strlen(name);
    memcpy(a.sun_path + 1, name, n);
    struct iovec io = { .iov_base = "x", .iov_len = 1 };
    struct msghdr h = { .msg_name = &a, .msg_namelen = sizeof(sa_family_t) + 1 + n, .msg_iov = &io, .msg_iovlen = 1 };
    if (!many) return report("sendmsg abstract", sendmsg(s, &h, 0));
    struct mmsghdr v[2] = { { .msg_hdr = h }, { .msg_hdr = h } };
    return report("sendmmsg abstract", sendmmsg(s, v, 2, 0));
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: attack MODE [ARGS]\n"); return 64; }
    const char *m = argv[1];
    if (!strcmp(m, "connect-ip") && argc == 4) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) return report("socket(AF_INET)", -1);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
        inet_pton(AF_INET, argv[2], &a.sin_addr);
        return report("connect", connect(s, (struct sockaddr *)&a, sizeof a));
    }
    if (!strcmp(m, "dns")) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        if (s < 0) return report("socket(AF_INET, SOCK_DGRAM)", -1);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53) };
        inet_pton(AF_INET, "127.0.0.53", &a.sin_addr);
        return report("sendto dns", sendto(s, "\0\1", 2, 0, (struct sockaddr *)&a, sizeof a));
    }
    if (!strcmp(m, "raw")) return report("raw socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    if (!strcmp(m, "packet")) return report("packet socket", socket(AF_PACKET, SOCK_RAW, 0));
    if (!strcmp(m, "netlink-diag")) return report("netlink sock_diag socket", socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG));
    if (!strcmp(m, "netlink-route-write")) {
        /* Add 10.9.9.9/32 to lo: a change, which needs CAP_NET_ADMIN. */
        int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
        if (s < 0) return report("netlink route socket", -1);
        struct { struct nlmsghdr h; struct ifaddrmsg a; struct rtattr r; unsigned char ip[4]; } q;
        memset(&q, 0, sizeof q);
        q.h.nlmsg_len = sizeof q;
        q.h.nlmsg_type = RTM_NEWADDR;
        q.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        q.a.ifa_family = AF_INET;
        q.a.ifa_prefixlen = 32;
        q.a.ifa_index = 1;
        q.r.rta_type = IFA_LOCAL;
        q.r.rta_len = RTA_LENGTH(4);
        q.ip[0] = 10; q.ip[1] = 9; q.ip[2] = 9; q.ip[3] = 9;
        if (send(s, &q, sizeof q, 0) < 0) return report("netlink RTM_NEWADDR send", -1);
        char buf[4096];
        long n = recv(s, buf, sizeof buf, 0);
        if (n < (long)(sizeof(struct nlmsghdr) + sizeof(struct nlmsgerr))) return report("netlink RTM_NEWADDR ack", -1);
        struct nlmsgerr *e = NLMSG_DATA((struct nlmsghdr *)buf);
        if (e->error) { errno = -e->error; return report("netlink RTM_NEWADDR", -1); }
        return report("netlink RTM_NEWADDR", 0);
    }
    if (!strcmp(m, "abstract") && argc == 3) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        size_t n = strlen(argv[2]);
        memcpy(a.sun_path + 1, argv[2], n);
        return report("connect abstract", connect(s, (struct sockaddr *)&a, sizeof(sa_family_t) + 1 + n));
    }
    if (!strcmp(m, "abstract-dgram") && argc == 3) {
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        size_t n = strlen(argv[2]);
        memcpy(a.sun_path + 1, argv[2], n);
        return report("sendto abstract", sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(sa_family_t) + 1 + n));
    }
    if (!strcmp(m, "udp-send") && argc == 4) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        if (s < 0) return report("socket(AF_INET, SOCK_DGRAM)", -1);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
        inet_pton(AF_INET, argv[2], &a.sin_addr);
        return report("sendto udp", sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a));
    }
    if (!strcmp(m, "ptrace")) {
        pid_t c = fork();
        if (c == 0) { pause(); _exit(0); }
        long r = ptrace(PTRACE_ATTACH, c, 0, 0);
        kill(c, SIGKILL);
        return report("ptrace attach", r);
    }
    if (!strcmp(m, "ptrace-init")) return report("ptrace attach pid 1", ptrace(PTRACE_ATTACH, 1, 0, 0));
    if (!strcmp(m, "mount")) return report("mount tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
    if (!strcmp(m, "unshare")) return report("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
    if (!strcmp(m, "setns")) {
        int fd = open("/proc/1/ns/mnt", O_RDONLY);
        return report("setns", setns(fd, 0));
    }
    if (!strcmp(m, "clone-ns")) {
        long r = syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) _exit(0);
        return report("clone(CLONE_NEWNET)", r);
    }
    if (!strcmp(m, "mknod") && argc == 3)
        return report("mknod char device", mknod(argv[2], S_IFCHR | 0666, makedev(1, 3)));
    /* What libuv >= 1.45 does at every loop start: probe io_uring_setup and
     * fall back to epoll on any error. Exits 0 only when the answer is ENOSYS
     * (the jail's and the container profiles' answer while the class is
     * denied), 1 otherwise. */
    if (!strcmp(m, "io_uring-probe")) {
        struct io_uring_params p; memset(&p, 0, sizeof p);
        long r = syscall(SYS_io_uring_setup, 8, &p);
        report("io_uring_setup", r);
        return r < 0 && errno == ENOSYS ? 0 : 1;
    }
    /* io_uring_enter on whatever setup gave (a ring, or stdin without one):
     * the attempt to use a ring is the class's violation. */
    if (!strcmp(m, "io_uring")) {
        struct io_uring_params p; memset(&p, 0, sizeof p);
        long fd = syscall(SYS_io_uring_setup, 8, &p);
        report("io_uring_setup", fd);
        return report("io_uring_enter", syscall(SYS_io_uring_enter, fd < 0 ? 0 : fd, 0, 0, 0, NULL, 0));
    }
    if (!strcmp(m, "bpf")) return report("bpf", syscall(SYS_bpf, 0, NULL, 0));
    if (!strcmp(m, "keyctl")) return report("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -1));
    if (!strcmp(m, "userfaultfd")) return report("userfaultfd", syscall(SYS_userfaultfd, 0));
    if (!strcmp(m, "perf")) return report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    if (!strcmp(m, "tiocsti")) { char c = 'x'; return report("TIOCSTI", ioctl(0, TIOCSTI, &c)); }
    if (!strcmp(m, "x32")) return report("x32 getpid", syscall(0x40000000 | SYS_getpid));
    /* The same foreign-ABI calls from a grandchild, whose death the task's own
     * parent reaps (the supervisor never sees its status). */
    if (!strcmp(m, "x32-grandchild") || !strcmp(m, "int80-grandchild")) {
        int x32 = m[0] == 'x';
        pid_t c = fork();
        if (c == 0) {
            pid_t g = fork();
            if (g == 0) {
                if (x32) report("x32 getpid in a grandchild", syscall(0x40000000 | SYS_getpid));
                else {
                    long r;
                    /* i386 getpid (20) through int 0x80. */
                    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
                    report("int 0x80 getpid in a grandchild", r < 0 ? (errno = -r, -1) : r);
                }
                _exit(0);
            }
            int st;
            waitpid(g, &st, 0);
            _exit(0);
        }
        int st;
        waitpid(c, &st, 0);
        printf("grandchild done\n");
        return 0;
    }
    /* A SIGSYS the task raises itself: a signal, not a seccomp verdict. */
    if (!strcmp(m, "sigsys-self")) { fflush(stdout); raise(SIGSYS); return 0; }
    /* A thread opens a file for writing outside the writable roots while the
     * main thread ends the process at once (exit_group, or a SIGKILL it sends
     * itself): the attempt must not be lost with the process. */
    if ((!strcmp(m, "race-exit") || !strcmp(m, "race-kill")) && argc == 3) {
        pthread_t t;
        pthread_create(&t, NULL, race_open, argv[2]);
        while (!race_started) { }
        /* Until the thread is blocked inside its open (waiting on the
         * supervisor): /proc/self/task/TID/syscall then starts with the call's
         * number (2 open, 257 openat); at most 2 s, so a loaded machine cannot
         * end the process before the call was made. */
        char sc[64];
        snprintf(sc, sizeof sc, "/proc/self/task/%d/syscall", (int)race_tid);
        for (int i = 0; i < 20000; i++) {
            char b[32] = {0};
            int fd = open(sc, O_RDONLY);
            if (fd >= 0) { (void)read(fd, b, sizeof b - 1); close(fd); }
            if (!strncmp(b, "257 ", 4) || !strncmp(b, "2 ", 2)) break;
            usleep(100);
        }
        if (m[5] == 'k') kill(getpid(), SIGKILL);
        _exit(0);
    }
    /* sendmsg/sendmmsg to an abstract unix address, from the task or a child. */
    if ((!strcmp(m, "sendmsg-abstract") || !strcmp(m, "sendmmsg-abstract") || !strcmp(m, "sendmsg-abstract-child")) && argc == 3) {
        if (strstr(m, "child")) {
            pid_t c = fork();
            if (c == 0) { send_abstract(argv[2], 0); _exit(0); }
            int st;
            waitpid(c, &st, 0);
            return 0;
        }
        return send_abstract(argv[2], m[4] == 'm');
    }
    if (!strcmp(m, "kill-init")) {
        long r = kill(1, SIGKILL);
        usleep(100000);
        return report("kill pid 1", r);
    }
    if (!strcmp(m, "fds")) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e; int extra = 0;
        while (d && (e = readdir(d))) {
            int fd = atoi(e->d_name);
            if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d)) continue;
            char link[256] = {0}, path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            readlink(path, link, sizeof link - 1);
            printf("LEAKED fd %d -> %s\n", fd, link);
            extra++;
        }
        if (!extra) printf("no leaked fds\n");
        return 0;
    }
    if (!strcmp(m, "memhog")) {
        size_t mb = argc > 2 ? atoi(argv[2]) : 4096;
        for (size_t i = 0; i < mb; i++) {
            char *p = malloc(1 << 20);
            if (!p) { printf("malloc failed at %zu MiB\n", i); return 0; }
            memset(p, 1, 1 << 20);
        }
        printf("ESCAPED allocated %zu MiB\n", mb);
        return 0;
    }
    if (!strcmp(m, "forkbomb")) {
        for (int i = 0; i < 100000; i++) {
            pid_t c = fork();
            if (c == 0) { pause(); _exit(0); }
            if (c < 0) { printf("fork failed after %d: %s\n", i, strerror(errno)); sleep(1); return 0; }
        }
        printf("ESCAPED forked 100000\n");
        return 0;
    }
    /* A single process that spawns N threads: each one counts against
     * limits.pids as a pids cgroup counts it. Progress every 10 threads. */
    if (!strcmp(m, "threadbomb") && argc == 3) {
        int n = atoi(argv[2]);
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 64 * 1024);
        for (int i = 1; i <= n; i++) {
            pthread_t t;
            int e = pthread_create(&t, &a, idle_thread, NULL);
            if (e) { printf("thread create failed after %d: %s\n", i - 1, strerror(e)); fflush(stdout); sleep(1); return 0; }
            if (i % 10 == 0) { printf("threads %d\n", i); fflush(stdout); }
            usleep(1000);
        }
        printf("ESCAPED created %d threads\n", n);
        fflush(stdout);
        sleep(1);
        return 0;
    }
    /* Benign: ROUNDS children, one after the other, each with THREADS threads
     * creating workspace files when it dies of SIGPIPE. Exits 0 when every
     * child died of SIGPIPE. */
    if (!strcmp(m, "sigpipe-writers") && argc == 4) {
        int rounds = atoi(argv[2]), threads = atoi(argv[3]), died = 0;
        for (int r = 0; r < rounds; r++) {
            pid_t c = fork();
            if (c < 0) return report("fork", -1);
            if (c == 0) sigpipe_child(threads);
            int st = 0;
            if (waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE) died++;
            else printf("child %d ended with status %#x\n", r, st);
        }
        printf("%d/%d children died of SIGPIPE\n", died, rounds);
        return died == rounds ? 0 : 1;
    }
    if (!strcmp(m, "chroot")) return report("chroot", chroot("/tmp"));
    if (!strcmp(m, "fchmod") && argc == 3) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return report("open for fchmod", -1);
        return report("fchmod 0777", fchmod(fd, 0777));
    }
    /* ---- paths: magic links, flags, rename and open variants ---- */
    if (!strcmp(m, "openat2-write") && argc == 3) {
        struct open_how how = { .flags = O_WRONLY | O_CREAT, .mode = 0644,
                                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
        return report("openat2 write", syscall(SYS_openat2, AT_FDCWD, argv[2], &how, sizeof how));
    }
    if (!strcmp(m, "rename-exchange") && argc == 4)
        return report("renameat2 RENAME_EXCHANGE",
                      syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], RENAME_EXCHANGE));
    if (!strcmp(m, "vfork-newuser")) {
        long r = syscall(SYS_clone, CLONE_NEWUSER | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) _exit(0);
        if (r > 0) waitpid(r, 0, 0);
        return report("clone(CLONE_NEWUSER|CLONE_VFORK)", r);
    }
    if (!strcmp(m, "opath-chmod") && argc == 4) {
        /* O_PATH needs no permission on the file; the magic link then reaches it. */
        int fd = open(argv[2], O_PATH);
        if (fd < 0) return report("open O_PATH", -1);
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        return report("chmod through /proc/self/fd", chmod(p, strtol(argv[3], 0, 8)));
    }
    if (!strcmp(m, "decoy-reset") && argc == 3) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return report("open decoy", -1);
        char buf[64];
        long n = read(fd, buf, sizeof buf);
        printf("read %ld bytes\n", n);
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        struct timespec ts[2] = { { .tv_sec = 1 }, { .tv_nsec = UTIME_OMIT } };
        long r = utimensat(AT_FDCWD, p, ts, 0);
        report("reset the decoy's access time", r);
        sleep(1); /* let the supervisor's periodic check look */
        return 0;
    }
    if (!strcmp(m, "memfd-fchmod")) {
        int fd = memfd_create("scratch", 0);
        if (fd < 0) return report("memfd_create", -1);
        long r = fchmod(fd, 0700);
        if (r < 0) printf("fchmod memfd failed: %s\n", strerror(errno));
        else printf("fchmod memfd ok\n");
        return 0;
    }
    /* Unlink N names that do not exist (nx0, nx1, ...): each a write call the
       supervisor judges and whose name its disk meter notes, so the init's
       final checks (the set-ID sweep over the noted names) take long. */
    if (!strcmp(m, "unlink-missing") && argc == 3) {
        int n = atoi(argv[2]);
        char name[32];
        for (int i = 0; i < n; i++) {
            snprintf(name, sizeof name, "nx%d", i);
            unlink(name);
        }
        printf("unlinked %d missing names\n", n);
        return 0;
    }
    if (!strcmp(m, "flood") && argc == 4) {
        int n = atoi(argv[2]);
        for (int i = 0; i < n; i++) {
            int fd = open("flood.tmp", O_WRONLY | O_CREAT, 0644);
            if (fd >= 0) close(fd);
        }
        return report("write after the flood", open(argv[3], O_WRONLY | O_CREAT, 0644));
    }
    /* ---- exec through a descriptor ---- */
    if (!strcmp(m, "fexecve") && argc >= 3) {
        /* execveat(fd, "", AT_EMPTY_PATH): what fexecve(3) does */
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return report("open for fexecve", -1);
        extern char **environ;
        long r = syscall(SYS_execveat, fd, "", &argv[2], environ, AT_EMPTY_PATH);
        return report("execveat AT_EMPTY_PATH", r);
    }
    /* ---- arguments in memory the supervisor cannot read ---- */
    if (!strcmp(m, "wo-open") && argc == 3) {
        /* The path lives in a write-only mapping: the task's own kernel reads it
         * (x86 pages are readable), process_vm_readv (GUP without FOLL_FORCE) cannot. */
        char *p = mmap(0, 4096, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return report("mmap", -1);
        strcpy(p, argv[2]);
        return report("open for write from a write-only mapping", open(p, O_WRONLY | O_CREAT, 0644));
    }
    if (!strcmp(m, "wo-exec") && argc >= 3) {
        char *p = mmap(0, 4096, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return report("mmap", -1);
        strcpy(p, argv[2]);
        extern char **environ;
        return report("execve from a write-only mapping", execve(p, &argv[2], environ));
    }
    if (!strcmp(m, "secret-open") && argc == 3) {
        int fd = syscall(447 /* memfd_secret */, 0);
        if (fd < 0) return report("memfd_secret", -1);
        if (ftruncate(fd, 4096) < 0) return report("ftruncate secret", -1);
        char *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) return report("mmap secret", -1);
        strcpy(p, argv[2]);
        return report("open for write from secret memory", open(p, O_WRONLY | O_CREAT, 0644));
    }
    if (!strcmp(m, "wo-abstract") && argc == 3) {
        struct sockaddr_un *a = mmap(0, 4096, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (a == MAP_FAILED) return report("mmap", -1);
        a->sun_family = AF_UNIX;
        size_t n = strlen(argv[2]);
        a->sun_path[0] = 0;
        memcpy(a->sun_path + 1, argv[2], n);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        return report("connect abstract from a write-only mapping",
                      connect(s, (struct sockaddr *)a, sizeof(sa_family_t) + 1 + n));
    }
    /* ---- O_TMPFILE, AT_EMPTY_PATH, RESOLVE_IN_ROOT, RENAME_WHITEOUT ---- */
    if (!strcmp(m, "tmpfile") && argc == 3) {
        /* An unnamed file in a read-only directory. */
        int fd = open(argv[2], O_TMPFILE | O_RDWR, 0600);
        if (fd >= 0) { printf("ESCAPED tmpfile in %s\n", argv[2]); return 0; }
        printf("blocked tmpfile in %s: %s\n", argv[2], strerror(errno));
        return 0;
    }
    if (!strcmp(m, "linkat_tmpfile") && argc == 4) {
        /* O_TMPFILE in argv[2], then give it the name argv[3] via AT_EMPTY_PATH. */
        int fd = open(argv[2], O_TMPFILE | O_RDWR, 0600);
        if (fd < 0) return report("open O_TMPFILE", -1);
        if (write(fd, "x", 1) != 1) return report("write the tmpfile", -1);
        if (linkat(fd, "", AT_FDCWD, argv[3], AT_EMPTY_PATH) == 0) {
            printf("ESCAPED linked %s\n", argv[3]);
            return 0;
        }
        return report("linkat AT_EMPTY_PATH", -1);
    }
    if (!strcmp(m, "in_root") && argc == 4) {
        /* openat2 RESOLVE_IN_ROOT: "/name" relative to the directory argv[2]. */
        int d = open(argv[2], O_PATH | O_DIRECTORY);
        if (d < 0) { printf("failed to open %s: %s\n", argv[2], strerror(errno)); return 0; }
        struct open_how how = {.flags = O_CREAT | O_WRONLY, .mode = 0600, .resolve = RESOLVE_IN_ROOT};
        long fd = syscall(SYS_openat2, d, argv[3], &how, sizeof how);
        if (fd < 0) { printf("openat2 RESOLVE_IN_ROOT failed: %s\n", strerror(errno)); return 0; }
        printf("OK created\n");
        return 0;
    }
    if (!strcmp(m, "whiteout") && argc == 4) {
        /* renameat2 RENAME_WHITEOUT leaves a 0/0 character device at argv[2]. */
        if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 4 /* RENAME_WHITEOUT */) != 0) {
            printf("renameat2 RENAME_WHITEOUT failed: %s\n", strerror(errno));
            return 0;
        }
        struct stat st;
        if (lstat(argv[2], &st) == 0 && S_ISCHR(st.st_mode)) printf("ESCAPED char device %s\n", argv[2]);
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", m);
    return 64;
}
