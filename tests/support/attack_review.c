/* Extra attack modes for tests/jail_review.rs (security review).
 * Built by that test file with the system gcc; never part of the product.
 * Prints "ESCAPED ..." when an attempt succeeded, "blocked ..." otherwise,
 * and exits 0 either way (the verdict must come from orchestra, not from us). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "report.h"


int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: attack_review MODE [ARGS]\n"); return 64; }
    const char *m = argv[1];
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
    if (!strcmp(m, "flood") && argc == 4) {
        int n = atoi(argv[2]);
        for (int i = 0; i < n; i++) {
            int fd = open("flood.tmp", O_WRONLY | O_CREAT, 0644);
            if (fd >= 0) close(fd);
        }
        return report("write after the flood", open(argv[3], O_WRONLY | O_CREAT, 0644));
    }
    if (!strcmp(m, "fexecve") && argc >= 3) {
        /* execveat(fd, "", AT_EMPTY_PATH): what fexecve(3) does */
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return report("open for fexecve", -1);
        extern char **environ;
        long r = syscall(SYS_execveat, fd, "", &argv[2], environ, AT_EMPTY_PATH);
        return report("execveat AT_EMPTY_PATH", r);
    }
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
    fprintf(stderr, "unknown mode %s\n", m);
    return 64;
}
