/* Sends on the task's own loopback, to a listener in a child, and says what
 * arrived (never the value itself):
 *   mmsg-split   the value of $GITHUB_TOKEN (then "\n") split over the two
 *                messages of ONE sendmmsg call (UDP)
 *   past-1mib    one TCP send of 1 MiB + 16 bytes of filler, then the value
 *   upload MIB   one TCP send of MIB MiB of filler (no value), then a
 *                sendmmsg of two plain datagrams: a large benign upload
 *   over-bound   one TCP sendmsg of 4 GiB + 64 MiB of filler (65 iovecs over one buffer; no value)
 * Prints "send -> R (errno E) in US us" and "listener: got N bytes; canary
 * ARRIVED|absent". Review F4 (tests/it/canaries.rs).
 * The listener waits for the sender's end, not for a time: the end of the TCP
 * stream (the sender shuts it down after its send, refused or not), and a last
 * datagram END sent after the others (loopback delivers a datagram before its
 * send returns, so whatever was sent is there before END). The supervisor may
 * hold a send for seconds on a loaded machine (judging 300 MiB); the receive
 * timeout (STALL seconds) only ends a test that hangs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

/* One sendmmsg of two messages: a, then b. */
/* The receive timeout: a hang, not a budget (see above). */
#define STALL 120

static const char END[] = "END";

/* Receive datagrams on `l` until END: how many others came, their bytes
 * appended to buf (at most 4096 each, within cap). */
static int recv_until_end(int l, char *buf, size_t cap, size_t *got) {
  int n = 0;
  for (;;) {
    char d[4096];
    ssize_t r = recv(l, d, sizeof d, 0);
    if (r < 0) return n; /* STALL passed: said as what came */
    if ((size_t)r == sizeof END - 1 && memcmp(d, END, r) == 0) return n;
    n++;
    if (got && *got + r <= cap) {
      memcpy(buf + *got, d, r);
      *got += r;
    }
  }
}

static int send_two(int s, void *a, size_t la, void *b, size_t lb) {
  struct iovec io[2] = {{a, la}, {b, lb}};
  struct mmsghdr m[2];
  memset(m, 0, sizeof m);
  m[0].msg_hdr.msg_iov = &io[0];
  m[0].msg_hdr.msg_iovlen = 1;
  m[1].msg_hdr.msg_iov = &io[1];
  m[1].msg_hdr.msg_iovlen = 1;
  return sendmmsg(s, m, 2, 0);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *mode = argv[1];
  const char *tok = getenv("GITHUB_TOKEN");
  if (!tok) tok = "no-canary-planted";
  size_t n = strlen(tok);
  int udp = strcmp(mode, "mmsg-split") == 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(0x7f000001)};
  int l = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  socklen_t alen = sizeof a;
  if (bind(l, (void *)&a, sizeof a) || getsockname(l, (void *)&a, &alen)) { perror("bind"); return 1; }
  if (!udp) listen(l, 1);
  /* The plain datagrams of `upload` go to a second, UDP listener. */
  struct sockaddr_in u = a;
  u.sin_port = 0;
  int ul = socket(AF_INET, SOCK_DGRAM, 0);
  alen = sizeof u;
  if (bind(ul, (void *)&u, sizeof u) || getsockname(ul, (void *)&u, &alen)) { perror("bind udp"); return 1; }
  fflush(stdout);
  pid_t p = fork();
  if (p == 0) {
    size_t cap = 300u << 20, got = 0;
    char *buf = malloc(cap);
    struct timeval tv = {STALL, 0};
    if (udp) {
      setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      recv_until_end(l, buf, cap, &got);
    } else {
      int c = accept(l, 0, 0);
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ssize_t r;
      while (got < cap && (r = recv(c, buf + got, cap - got, 0)) > 0) got += r;
    }
    printf("listener: got %zu bytes; canary %s\n", got, memmem(buf, got, tok, n) ? "ARRIVED" : "absent");
    if (strcmp(mode, "upload") == 0) {
      setsockopt(ul, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      printf("listener: %d datagrams\n", recv_until_end(ul, buf, cap, 0));
    }
    fflush(stdout);
    _exit(0);
  }
  int s = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (connect(s, (void *)&a, sizeof a)) { perror("connect"); return 1; }
  ssize_t r;
  long long t0;
  if (udp) {
    char *v = malloc(n + 1);
    memcpy(v, tok, n);
    v[n] = '\n';
    t0 = now_us();
    r = send_two(s, v, n / 2, v + n / 2, n + 1 - n / 2);
    /* The datagrams sent are in the listener's queue now: END follows them. */
    int e = r < 0 ? errno : 0;
    send(s, END, sizeof END - 1, 0);
    errno = e;
  } else if (strcmp(mode, "over-bound") == 0) {
    /* 65 iovecs over one 64 MiB buffer: 4 GiB + 64 MiB in one sendmsg. */
    size_t part = 64u << 20;
    char *b = malloc(part);
    memset(b, 'A', part);
    struct iovec io[65];
    for (int i = 0; i < 65; i++) {
      io[i].iov_base = b;
      io[i].iov_len = part;
    }
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = io;
    mh.msg_iovlen = 65;
    t0 = now_us();
    r = sendmsg(s, &mh, 0);
  } else {
    size_t fill = strcmp(mode, "past-1mib") == 0 ? (1u << 20) + 16
                  : (size_t)atoi(argc > 2 ? argv[2] : "1") << 20;
    int with_value = strcmp(mode, "past-1mib") == 0;
    size_t len = fill + (with_value ? n + 1 : 0);
    char *b = malloc(len);
    memset(b, 'A', fill);
    if (with_value) {
      memcpy(b + fill, tok, n);
      b[fill + n] = '\n';
    }
    t0 = now_us();
    r = send(s, b, len, 0);
  }
  int e = r < 0 ? errno : 0;
  printf("send -> %zd (errno %d) in %lld us\n", r, e, now_us() - t0);
  fflush(stdout);
  if (!udp) shutdown(s, SHUT_WR);
  if (strcmp(mode, "upload") == 0) {
    int us = socket(AF_INET, SOCK_DGRAM, 0);
    connect(us, (void *)&u, sizeof u);
    char d1[] = "GET /index HTTP/1.1\r\n", d2[] = "Host: registry\r\n\r\n";
    printf("sendmmsg -> %d\n", send_two(us, d1, sizeof d1 - 1, d2, sizeof d2 - 1));
    fflush(stdout);
    send(us, END, sizeof END - 1, 0);
  }
  close(s);
  waitpid(p, 0, 0);
  return 0;
}
