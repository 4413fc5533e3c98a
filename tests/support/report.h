/* Shared by the attack programs in this directory: one line per attempt.
 * "ESCAPED ..." when it succeeded, "blocked ...: <errno>" otherwise; the
 * programs exit 0 either way (the verdict must come from orchestra). */
#ifndef ORCHESTRA_TEST_REPORT_H
#define ORCHESTRA_TEST_REPORT_H
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int report(const char *what, long rc) {
    if (rc >= 0) printf("ESCAPED %s\n", what);
    else printf("blocked %s: %s\n", what, strerror(errno));
    fflush(stdout);
    return 0;
}
#endif
