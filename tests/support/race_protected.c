/* A hostile build step that races the supervisor for a protected path that
 * is absent when the task starts (SECURITY.md §5.3): it renames SRC (a file
 * or a directory it prepared) to a name held in memory that the main thread
 * rewrites, one byte, from a benign name to TARGET while the rename waits for
 * the supervisor's judgement. The delay before the rewrite adapts: a rename
 * that landed on the benign name came too late (moved back, tried sooner), a
 * refused one too early (tried later; under `on_violation: kill` the first
 * refusal ends the task). Prints "ESCAPED ..." when TARGET exists after a
 * try, and stops; after TRIES lost tries it makes one plain attempt (no
 * race), which the supervisor must refuse. Exits 0 either way (the verdict
 * must come from orchestra).
 * Usage: race_protected SRC TARGET [TRIES]. Built by the test harness
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

static void *worker(void *unused) {
    (void)unused;
    worker_tid = (pid_t)syscall(SYS_gettid);
    worker_rc = syscall(SYS_rename, src, name);
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
    if (argc < 3) {
        fprintf(stderr, "usage: race_protected SRC TARGET [TRIES]\n");
        return 64;
    }
    src = argv[1];
    const char *target = argv[2];
    int tries = argc > 3 ? atoi(argv[3]) : 3000;
    size_t len = strlen(target);
    if (len == 0 || len >= sizeof name) return 64;
    memcpy(name, target, len + 1);
    char last = target[len - 1], benign = last == '~' ? '-' : '~';
    long delay = 200000; /* ns after the rename is seen waiting */
    unsigned seed = (unsigned)now_ns();
    struct stat st;
    int late = 0, early = 0;
    for (int i = 0; i < tries; i++) {
        __atomic_store_n(&name[len - 1], benign, __ATOMIC_SEQ_CST);
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
        __atomic_store_n(&name[len - 1], last, __ATOMIC_SEQ_CST);
        pthread_join(t, NULL);
        if (lstat(target, &st) == 0) {
            printf("ESCAPED rename to %s at try %d (delay %ld us; %d late, %d refused)\n", target, i + 1,
                   delay / 1000, late, early);
            fflush(stdout);
            return 0;
        }
        if (worker_rc == 0) {
            /* Landed on the benign name: too late. */
            late++;
            name[len - 1] = benign;
            if (rename(name, src) != 0) return report("moving the benign name back", -1);
            delay = delay > 3000 ? delay - 3000 : 0;
        } else {
            /* Refused: too early. */
            early++;
            delay += 7000;
        }
    }
    printf("lost %d tries (%d late, %d refused)\n", tries, late, early);
    name[len - 1] = last;
    return report("rename without a race", rename(src, name));
}
