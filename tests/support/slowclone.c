/* LD_PRELOAD helper for the jail tests: delays the two sides of the jail's
 * clone into a new pid namespace, as a busy host's scheduler may, without
 * changing anything else.
 *
 *   SLOWCLONE_CHILD_MS   the child sleeps this long before its first
 *                        instruction after the clone (default 1000)
 *   SLOWCLONE_PARENT_MS  the parent sleeps this long after the clone (default 0)
 *
 * orchestra calls clone3 through libc's syscall(), which this file replaces
 * and forwards to the next definition. Build: gcc -shared -fPIC -o x.so x.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

typedef long (*syscall_fn)(long, ...);

static void pause_ms(syscall_fn next, const char *var, long fallback) {
    const char *v = getenv(var);
    long ms = v ? atol(v) : fallback;
    if (ms <= 0) return;
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    next(SYS_nanosleep, &t, NULL);
}

long syscall(long nr, ...) {
    static syscall_fn next;
    if (!next) next = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
    va_list ap;
    va_start(ap, nr);
    long a0 = va_arg(ap, long), a1 = va_arg(ap, long), a2 = va_arg(ap, long);
    long a3 = va_arg(ap, long), a4 = va_arg(ap, long), a5 = va_arg(ap, long);
    va_end(ap);
    long r = next(nr, a0, a1, a2, a3, a4, a5);
    if (nr == SYS_clone3 && r >= 0) {
        const struct clone_args *ca = (const struct clone_args *)a0;
        if (ca->flags & CLONE_NEWPID) {
            if (r == 0) pause_ms(next, "SLOWCLONE_CHILD_MS", 1000);
            else pause_ms(next, "SLOWCLONE_PARENT_MS", 0);
        }
    }
    return r;
}
