/* Opens a pseudo-terminal pair the way openpty(3) does (posix_openpt on
 * /dev/ptmx, grantpt, unlockpt, the slave by its name), stops and restarts
 * the slave's output (tcflow) and takes it exclusively and back (TIOCEXCL,
 * TIOCNXCL) as pexpect's tests do, writes a line on the slave and reads it
 * from the master. Prints "pty <slave> <bytes>"; exit 1 with the failing
 * step on stderr. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0) {
        perror("posix_openpt");
        return 1;
    }
    if (grantpt(m) != 0 || unlockpt(m) != 0) {
        perror("grantpt/unlockpt");
        return 1;
    }
    const char *name = ptsname(m);
    int s = name ? open(name, O_RDWR | O_NOCTTY) : -1;
    if (s < 0) {
        perror("open slave");
        return 1;
    }
    if (tcflow(s, TCOOFF) != 0 || tcflow(s, TCOON) != 0) {
        perror("tcflow");
        return 1;
    }
    if (ioctl(s, TIOCEXCL) != 0 || ioctl(s, TIOCNXCL) != 0) {
        perror("TIOCEXCL");
        return 1;
    }
    if (write(s, "hi\n", 3) != 3) {
        perror("write");
        return 1;
    }
    char b[16];
    ssize_t n = read(m, b, sizeof b);
    printf("pty %s %zd\n", name, n);
    return 0;
}
