/* A hostile build step: each mode tries one way out of the sandbox.
 * Built by the test harness with the system gcc; never part of the product.
 * Prints "ESCAPED ..." when an attempt succeeded, "blocked ..." otherwise,
 * and exits 0 either way (the verdict must come from orchestra, not from us). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <pthread.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>
#include "report.h"


static volatile int race_started;

static void *race_open(void *path) {
    race_started = 1;
    report("open for writing while the process exits", open((const char *)path, O_WRONLY | O_CREAT, 0644));
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
    if (!strcmp(m, "io_uring")) {
        struct io_uring_params p; memset(&p, 0, sizeof p);
        return report("io_uring_setup", syscall(SYS_io_uring_setup, 8, &p));
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
        /* 50 us: the thread is inside its open (waiting on the supervisor). */
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do clock_gettime(CLOCK_MONOTONIC, &t1);
        while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 50000);
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
    if (!strcmp(m, "chroot")) return report("chroot", chroot("/tmp"));
    if (!strcmp(m, "fchmod") && argc == 3) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return report("open for fchmod", -1);
        return report("fchmod 0777", fchmod(fd, 0777));
    }
    fprintf(stderr, "unknown mode %s\n", m);
    return 64;
}
