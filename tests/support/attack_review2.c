/* Helper for tests/jail_review2.rs. Prints ESCAPED when an effect the jail
 * must prevent happened, OK/ERR lines otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 100;
    const char *m = argv[1];
    if (!strcmp(m, "tmpfile") && argc == 3) {
        /* An unnamed file in a read-only directory. */
        int fd = open(argv[2], O_TMPFILE | O_RDWR, 0600);
        if (fd >= 0) { printf("ESCAPED tmpfile in %s\n", argv[2]); return 0; }
        printf("ERR tmpfile %s\n", strerror(errno));
        return 1;
    }
    if (!strcmp(m, "linkat_tmpfile") && argc == 4) {
        /* O_TMPFILE in argv[2], then give it the name argv[3] via AT_EMPTY_PATH. */
        int fd = open(argv[2], O_TMPFILE | O_RDWR, 0600);
        if (fd < 0) { printf("ERR open %s\n", strerror(errno)); return 1; }
        if (write(fd, "x", 1) != 1) return 1;
        if (linkat(fd, "", AT_FDCWD, argv[3], AT_EMPTY_PATH) == 0) {
            printf("ESCAPED linked %s\n", argv[3]);
            return 0;
        }
        printf("ERR linkat %s\n", strerror(errno));
        return 1;
    }
    if (!strcmp(m, "in_root") && argc == 4) {
        /* openat2 RESOLVE_IN_ROOT: "/name" relative to the directory argv[2]. */
        int d = open(argv[2], O_PATH | O_DIRECTORY);
        if (d < 0) { printf("ERR dir %s\n", strerror(errno)); return 1; }
        struct open_how how = {.flags = O_CREAT | O_WRONLY, .mode = 0600, .resolve = RESOLVE_IN_ROOT};
        long fd = syscall(SYS_openat2, d, argv[3], &how, sizeof how);
        if (fd < 0) { printf("ERR openat2 %s\n", strerror(errno)); return 1; }
        printf("OK created\n");
        return 0;
    }
    if (!strcmp(m, "whiteout") && argc == 4) {
        /* renameat2 RENAME_WHITEOUT leaves a 0/0 character device at argv[2]. */
        if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 4 /* RENAME_WHITEOUT */) != 0) {
            printf("ERR renameat2 %s\n", strerror(errno));
            return 1;
        }
        struct stat st;
        if (lstat(argv[2], &st) == 0 && S_ISCHR(st.st_mode)) printf("ESCAPED char device %s\n", argv[2]);
        return 0;
    }
    return 100;
}
