/* Review 88 F2: chmod("x", 02755) judged on a directory while another thread
 * swaps a file into its place (renameat2 RENAME_EXCHANGE of x and y): the
 * per-call check sees a directory, the kernel may give the file the bit. Up
 * to ROUNDS tries; prints "hit=0|1". After a hit, THEN:
 *   then-exit     exit 0 (the normal end)
 *   then-disk     write 3 x 2 MiB and sleep (a limits.disk overrun)
 *   then-violate  open /etc/passwd for writing and sleep (fs.write)
 *   then-sleep    sleep 30 (until the host stops it) */
#include "setid_race.h"
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 20000;
    const char *then = argc > 2 ? argv[2] : "then-exit";
    int hit = race(rounds);
    if (hit < 0) return 2;
    if (!hit) return 0;
    if (!strcmp(then, "then-violate")) {
        int f = open("/etc/passwd", O_WRONLY | O_APPEND);
        (void)f;
        sleep(5);
    }
    if (!strcmp(then, "then-sleep")) sleep(30);
    if (!strcmp(then, "then-disk")) {
        static char b[1 << 20];
        for (int k = 0; k < 3; k++) {
            char n[8] = "big0";
            n[3] += k;
            int f = open(n, O_CREAT | O_WRONLY, 0644);
            for (int i = 0; i < 2; i++)
                if (write(f, b, sizeof b) < 0) break;
            close(f);
        }
        sleep(5);
    }
    return 0;
}
