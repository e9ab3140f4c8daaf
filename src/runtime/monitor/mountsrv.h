/*
 * `berth-monitor --mount-server`: a long-lived child of berthd that performs
 * mount(2) and umount2(2) for it, so that a container's overlay mount and
 * unmount cost no process spawn (node forks the whole daemon for each spawn,
 * and the cost of that fork grows with the daemon's memory; a write to this
 * process's pipe costs nothing of the kind). Included once by berth-monitor.c
 * (one compile unit, one static binary).
 *
 * Hand-written because node has no mount(2) binding and the mount(8)/umount(8)
 * programs are exactly the per-run spawns this replaces.
 *
 * Protocol on stdin: a request is a verb and a fixed number of fields, each
 * terminated by NUL (fields may be empty):
 *   mount \0 TYPE \0 SOURCE \0 TARGET \0 DATA \0 CWD \0
 *       mount(SOURCE, TARGET, TYPE, 0, DATA) with the working directory CWD
 *       (relative overlay lowerdirs resolve against it; "" is /)
 *   umount \0 TARGET \0 FLAGS \0      FLAGS "" or "detach" (MNT_DETACH)
 * Each request gets one line on stdout: "0" or "ERRNO message"; an unknown
 * verb gets "22 ..." and ends the server (the stream cannot resync). The server
 * exits on end of input, and when its parent dies (PR_SET_PDEATHSIG), so a
 * killed daemon leaves nothing behind.
 */
#include <sys/mount.h>

#define MS_MAX_FIELDS 6

static void mount_server_reply(int err)
{
    if (err == 0)
        printf("0\n");
    else
        printf("%d %s\n", err, strerror(err));
    fflush(stdout);
}

static int mount_server_one(char **f, int n)
{
    if (n == 6 && strcmp(f[0], "mount") == 0) {
        if (chdir(f[5][0] ? f[5] : "/") < 0)
            return errno;
        int r = mount(f[2], f[3], f[1], 0, f[4][0] ? f[4] : NULL);
        int err = r < 0 ? errno : 0;
        if (chdir("/") < 0 && err == 0)
            err = errno;
        return err;
    }
    if (n == 3 && strcmp(f[0], "umount") == 0) {
        int flags = 0;
        if (strcmp(f[2], "detach") == 0)
            flags = MNT_DETACH;
        else if (f[2][0])
            return EINVAL;
        return umount2(f[1], flags) < 0 ? errno : 0;
    }
    return EINVAL;
}

static int mount_server(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() == 1)
        return 0; /* the parent died before the line above */
    signal(SIGPIPE, SIG_IGN);
    char *f[MS_MAX_FIELDS] = {0};
    int n = 0, want = 1;
    size_t cap[MS_MAX_FIELDS] = {0};
    for (;;) {
        ssize_t len = getdelim(&f[n], &cap[n], '\0', stdin);
        if (len <= 0 || f[n][len - 1] != '\0')
            break; /* end of input (or a truncated request) */
        if (n == 0) {
            want = strcmp(f[0], "mount") == 0 ? 6 : strcmp(f[0], "umount") == 0 ? 3 : 0;
            if (want == 0) {
                mount_server_reply(EINVAL); /* cannot find the next request: stop */
                break;
            }
        }
        if (++n < want)
            continue;
        mount_server_reply(mount_server_one(f, n));
        n = 0;
    }
    for (int i = 0; i < MS_MAX_FIELDS; i++)
        free(f[i]);
    return 0;
}
