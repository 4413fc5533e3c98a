/* Helper for tests/jail_setuid_syscalls.rs: set-ID modes, new and unknown
 * system calls, SysV IPC, xattr/attr changes by path, unix socket connects.
 * Prints OK/ERR lines (ERR with the errno name); the tests judge the effect on
 * the host themselves. Modes are octal. Exit 0 on OK, 1 on ERR, 100 on usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sys/time.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/personality.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#define NR_FCHMODAT2 452
#define NR_SETXATTRAT 463
#define NR_OPEN_TREE_ATTR 467
#define NR_FILE_GETATTR 468
#define NR_FILE_SETATTR 469

struct xattr_args_v0 { uint64_t value; uint32_t size; uint32_t flags; };
struct file_attr_v0 { uint64_t fa_xflags; uint32_t fa_extsize, fa_nextents, fa_projid, fa_cowextsize; };

static int report(const char *what, long r) {
    if (r < 0) { printf("ERR %s %s\n", what, strerrorname_np(errno)); return 1; }
    printf("OK %s\n", what);
    return 0;
}

static mode_t mode_arg(const char *s) { return (mode_t)strtoul(s, NULL, 8); }

/* The namespace-less race: a thread keeps swapping the workspace symlink
 * "race-link" between a workspace file and a file outside every writable root,
 * while the main thread changes the link's target's attributes by path. */
static volatile int racing = 1;
static const char *race_outside;

static void *swap_link(void *unused) {
    (void)unused;
    while (racing) {
        symlink("race-mine", "race-tmp-in");
        rename("race-tmp-in", "race-link");
        symlink(race_outside, "race-tmp-out");
        rename("race-tmp-out", "race-link");
    }
    return NULL;
}

static int attr_race(const char *op, const char *outside, int rounds) {
    race_outside = outside;
    int fd = open("race-mine", O_CREAT | O_WRONLY, 0644);
    if (fd < 0) return report("create race-mine", -1);
    close(fd);
    symlink("race-mine", "race-link");
    pthread_t t;
    pthread_create(&t, NULL, swap_link, NULL);
    int ok = 0;
    for (int i = 0; i < rounds; i++) {
        long r = -1;
        if (!strcmp(op, "chmod")) r = chmod("race-link", 0666);
        else if (!strcmp(op, "chown")) r = chown("race-link", -1, getgid());
        else if (!strcmp(op, "utimes")) { struct timeval tv[2] = {{1, 0}, {1, 0}}; r = utimes("race-link", tv); }
        else if (!strcmp(op, "setxattr")) r = setxattr("race-link", "user.race", "1", 1, 0);
        if (r == 0) ok++;
    }
    racing = 0;
    pthread_join(t, NULL);
    printf("RACE %s %d/%d succeeded\n", op, ok, rounds);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 100;
    const char *m = argv[1];
    if (!strcmp(m, "attr-race") && argc == 5) return attr_race(argv[2], argv[3], atoi(argv[4]));
    /* ---- set-ID modes: PATH MODE ---- */
    if (argc == 4) {
        const char *p = argv[2];
        mode_t mode = mode_arg(argv[3]);
        if (!strcmp(m, "chmod")) return report(m, chmod(p, mode));
        if (!strcmp(m, "fchmodat")) return report(m, fchmodat(AT_FDCWD, p, mode, 0));
        if (!strcmp(m, "fchmodat2")) return report(m, syscall(NR_FCHMODAT2, AT_FDCWD, p, mode, 0));
        if (!strcmp(m, "fchmod")) {
            int fd = open(p, O_RDONLY);
            if (fd < 0) return report("open", -1);
            return report(m, fchmod(fd, mode));
        }
        if (!strcmp(m, "open")) return report(m, syscall(SYS_open, p, O_CREAT | O_WRONLY, mode));
        if (!strcmp(m, "openat")) return report(m, openat(AT_FDCWD, p, O_CREAT | O_WRONLY, mode));
        if (!strcmp(m, "creat")) return report(m, creat(p, mode));
        if (!strcmp(m, "openat2")) {
            struct open_how how = {.flags = O_CREAT | O_WRONLY, .mode = mode};
            return report(m, syscall(SYS_openat2, AT_FDCWD, p, &how, sizeof how));
        }
        if (!strcmp(m, "mknod")) return report(m, mknod(p, S_IFREG | mode, 0));
        if (!strcmp(m, "mknodat")) return report(m, mknodat(AT_FDCWD, p, S_IFREG | mode, 0));
    }
    /* O_TMPFILE in DIR, then a set-ID mode (at open or by fchmod), then linkat to NAME. */
    if ((!strcmp(m, "tmpfile_mode") || !strcmp(m, "tmpfile_fchmod")) && argc == 5) {
        int at_open = !strcmp(m, "tmpfile_mode");
        mode_t mode = mode_arg(argv[4]);
        int fd = open(argv[2], O_TMPFILE | O_RDWR, at_open ? mode : 0755);
        if (fd < 0) return report("open O_TMPFILE", -1);
        if (!at_open && fchmod(fd, mode) < 0) return report("fchmod", -1);
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        return report("linkat", linkat(AT_FDCWD, proc, AT_FDCWD, argv[3], AT_SYMLINK_FOLLOW));
    }
    /* ---- system calls by number ---- */
    if (!strcmp(m, "nr") && argc >= 3) {
        long a[6] = {0};
        for (int i = 3; i < argc && i < 9; i++) a[i - 3] = strtol(argv[i], NULL, 0);
        long r = syscall(strtol(argv[2], NULL, 0), a[0], a[1], a[2], a[3], a[4], a[5]);
        if (r < 0) { printf("ERR nr %s\n", strerrorname_np(errno)); return 1; }
        printf("OK nr %ld\n", r);
        return 0;
    }
    if (!strcmp(m, "personality") && argc == 3) {
        return report(m, syscall(SYS_personality, strtoul(argv[2], NULL, 0)));
    }
    if (!strcmp(m, "modify_ldt")) {
        char buf[16];
        return report(m, syscall(SYS_modify_ldt, 0, buf, sizeof buf));
    }
    if (!strcmp(m, "open_tree_attr")) {
        return report(m, syscall(NR_OPEN_TREE_ATTR, AT_FDCWD, ".", 1 /* OPEN_TREE_CLONE */, NULL, 0));
    }
    if (!strcmp(m, "fanotify_init")) return report(m, syscall(SYS_fanotify_init, 0, O_RDONLY));
    /* Numbers added after the build host's headers (6.1): called with arguments
     * that fail validation, so only ENOSYS tells an unknown number. */
    if (!strcmp(m, "probe_new")) {
        for (long nr = 451; nr <= 469; nr++) {
            long r = syscall(nr, -1L, 0L, 0xffffffffL, 0L, 0xffffffffL, 0L);
            printf("%ld %s\n", nr, r < 0 ? strerrorname_np(errno) : "OK");
        }
        return 0;
    }
    /* ---- SysV shared memory: KEY [TEXT] ---- */
    if (!strcmp(m, "shm_create") && argc == 4) {
        int id = shmget((key_t)strtol(argv[2], NULL, 0), 4096, IPC_CREAT | 0666);
        if (id < 0) return report("shmget", -1);
        char *p = shmat(id, NULL, 0);
        if (p == (void *)-1) return report("shmat", -1);
        strncpy(p, argv[3], 4095);
        return report(m, 0);
    }
    if (!strcmp(m, "shm_read") && argc == 3) {
        int id = shmget((key_t)strtol(argv[2], NULL, 0), 0, 0);
        if (id < 0) return report("shmget", -1);
        char *p = shmat(id, NULL, 0);
        if (p == (void *)-1) return report("shmat", -1);
        printf("READ %.64s\n", p);
        return 0;
    }
    if (!strcmp(m, "shm_write") && argc == 4) {
        int id = shmget((key_t)strtol(argv[2], NULL, 0), 0, 0);
        if (id < 0) return report("shmget", -1);
        char *p = shmat(id, NULL, 0);
        if (p == (void *)-1) return report("shmat", -1);
        strncpy(p, argv[3], 4095);
        return report(m, 0);
    }
    if (!strcmp(m, "shm_rm") && argc == 3) {
        int id = shmget((key_t)strtol(argv[2], NULL, 0), 0, 0);
        if (id < 0) return report("shmget", -1);
        return report(m, shmctl(id, IPC_RMID, NULL));
    }
    if (!strcmp(m, "shm_private")) {
        /* A task's own segment: create, use, remove. */
        int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
        if (id < 0) return report("shmget", -1);
        char *p = shmat(id, NULL, 0);
        if (p == (void *)-1) return report("shmat", -1);
        strcpy(p, "mine");
        shmdt(p);
        return report(m, shmctl(id, IPC_RMID, NULL));
    }
    /* ---- attributes by path ---- */
    if (!strcmp(m, "setxattrat") && argc == 5) {
        struct xattr_args_v0 a = {.value = (uint64_t)(uintptr_t)argv[4], .size = strlen(argv[4])};
        return report(m, syscall(NR_SETXATTRAT, AT_FDCWD, argv[2], 0, argv[3], &a, sizeof a));
    }
    if (!strcmp(m, "setxattrat_fd") && argc == 5) {
        /* AT_EMPTY_PATH on a read-only descriptor of the file. */
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return report("open", -1);
        struct xattr_args_v0 a = {.value = (uint64_t)(uintptr_t)argv[4], .size = strlen(argv[4])};
        return report(m, syscall(NR_SETXATTRAT, fd, "", AT_EMPTY_PATH, argv[3], &a, sizeof a));
    }
    if (!strcmp(m, "getxattr") && argc == 4) {
        char v[256] = {0};
        long r = getxattr(argv[2], argv[3], v, sizeof v - 1);
        if (r < 0) return report("getxattr", -1);
        printf("VALUE %s\n", v);
        return 0;
    }
    if (!strcmp(m, "file_setattr") && argc == 3) {
        struct file_attr_v0 fa = {0};
        if (syscall(NR_FILE_GETATTR, AT_FDCWD, argv[2], &fa, sizeof fa, 0) < 0) return report("file_getattr", -1);
        fa.fa_xflags |= 0x80; /* FS_XFLAG_NODUMP */
        return report(m, syscall(NR_FILE_SETATTR, AT_FDCWD, argv[2], &fa, sizeof fa, 0));
    }
    /* ---- a pathname unix socket ---- */
    if (!strcmp(m, "connect") && argc == 3) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s < 0) return report("socket", -1);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
        return report(m, connect(s, (struct sockaddr *)&a, sizeof a));
    }
    return 100;
}
