/* File handles: `name` makes a handle for "." with name_to_handle_at (no
 * privilege needed; prints "handle ok" or the error); `open` then tries
 * open_by_handle_at with it (prints "blocked open_by_handle_at: <error>" or
 * "OPENED" when a descriptor came back). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct file_handle *h = malloc(sizeof *h + MAX_HANDLE_SZ);
    h->handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    if (name_to_handle_at(AT_FDCWD, ".", h, &mount_id, 0) != 0) {
        printf("name_to_handle_at: %s\n", strerror(errno));
        return 1;
    }
    printf("handle ok\n");
    if (argc > 1 && !strcmp(argv[1], "open")) {
        int fd = open_by_handle_at(AT_FDCWD, h, O_RDONLY);
        if (fd >= 0) printf("OPENED\n");
        else printf("blocked open_by_handle_at: %s\n", strerror(errno));
    }
    fflush(stdout);
    return 0;
}
