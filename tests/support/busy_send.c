/* Review 88 F1: read FILE SLEEP_MS into the task (a canary right before the
 * wall deadline), then make CALLS sendmsg calls of 4 GiB each on a socketpair
 * (1,024 iovecs naming one 4 MiB buffer: the most the supervisor judges in one
 * call, seconds of judging), then pause (MODE "pause", the default) or exit 0
 * ("exit"). Prints "read FILE -> fd=N r=N" and "sendmsg -> R after S s". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *file = argv[1];
    int ms = atoi(argv[2]);
    int calls = atoi(argv[3]);
    int exit_after = argc > 4 && !strcmp(argv[4], "exit");
    size_t seg = 4u << 20;
    char *buf = malloc(seg);
    if (!buf) return 2;
    memset(buf, 'A', seg);
    static struct iovec iov[1024];
    for (int i = 0; i < 1024; i++) { iov[i].iov_base = buf; iov[i].iov_len = seg; }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 2;
    struct msghdr m = {0};
    m.msg_iov = iov;
    m.msg_iovlen = 1024;
    usleep(ms * 1000);
    char rb[256];
    int fd = open(file, O_RDONLY);
    ssize_t r = fd >= 0 ? read(fd, rb, sizeof rb) : -1;
    fprintf(stderr, "read %s -> fd=%d r=%zd\n", file, fd, r);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < calls; i++) {
        ssize_t s = sendmsg(sv[0], &m, MSG_DONTWAIT);
        clock_gettime(CLOCK_MONOTONIC, &b);
        fprintf(stderr, "sendmsg -> %zd after %.3f s\n", s, (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    }
    if (exit_after) return 0;
    pause();
    return 0;
}
