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
 *   netns \0 FILE \0 IP \0 BATCH \0
 *       a child of this small process (a cheap fork, unlike berthd's) enters a
 *       new network namespace, binds it at FILE (an existing file) and runs
 *       `IP -batch -` in it with BATCH on its stdin: `unshare --net=FILE ip
 *       -batch -` without a spawn by berthd. A failure answers "1 <ip's
 *       stderr, newlines as '; '>".
 * Each request gets one line on stdout: "0" or "ERRNO message"; an unknown
 * verb gets "22 ..." and ends the server (the stream cannot resync). The server
 * exits on end of input, and when its parent dies (PR_SET_PDEATHSIG), so a
 * killed daemon leaves nothing behind.
 */
#include <sys/mount.h>

#define MS_MAX_FIELDS 6
#define MS_NETNS_ERR_MAX 4096

static char ms_err[MS_NETNS_ERR_MAX]; /* stderr of the last failed netns request */

static void mount_server_reply(int err)
{
    if (err == 0)
        printf("0\n");
    else if (err == -1)
        printf("1 %s\n", ms_err);
    else
        printf("%d %s\n", err, strerror(err));
    fflush(stdout);
}

/* The netns request; -1 with ms_err set when ip (or the set-up) failed. */
static int mount_server_netns(const char *file, const char *ip, const char *batch)
{
    int in[2], errp[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return errno;
    if (pipe2(errp, O_CLOEXEC) < 0) {
        int e = errno;
        close(in[0]);
        close(in[1]);
        return e;
    }
    size_t blen = strlen(batch);
    if (blen > 65536)
        fcntl(in[1], F_SETPIPE_SZ, (int)blen); /* the whole batch fits: the write below cannot block */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(in[0]), close(in[1]), close(errp[0]), close(errp[1]);
        return e;
    }
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(errp[1], 2);
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0)
            dup2(dn, 1);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* ip goes with a killed helper */
        if (unshare(CLONE_NEWNET) < 0) {
            dprintf(2, "unshare: %s\n", strerror(errno));
            _exit(1);
        }
        if (mount("/proc/self/ns/net", file, NULL, MS_BIND, NULL) < 0) {
            dprintf(2, "mount %s: %s\n", file, strerror(errno));
            _exit(1);
        }
        execlp(ip, ip, "-batch", "-", (char *)NULL);
        dprintf(2, "cannot execute %s: %s\n", ip, strerror(errno));
        _exit(1);
    }
    close(in[0]);
    close(errp[1]);
    int werr = write_all(in[1], batch, blen) < 0 ? errno : 0;
    close(in[1]);
    size_t n = 0;
    for (;;) {
        char tmp[512];
        ssize_t r = read(errp[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r && n + 3 < sizeof ms_err; i++) {
            if (tmp[i] == '\n') {
                ms_err[n++] = ';';
                ms_err[n++] = ' ';
            } else
                ms_err[n++] = tmp[i];
        }
    }
    close(errp[0]);
    while (n >= 2 && ms_err[n - 2] == ';' && ms_err[n - 1] == ' ')
        n -= 2;
    ms_err[n] = '\0';
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && werr == 0)
        return 0;
    if (n == 0)
        snprintf(ms_err, sizeof ms_err, "%s -batch: %s", ip, werr ? strerror(werr) : WIFEXITED(st) ? "failed" : "killed");
    return -1;
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
    if (n == 4 && strcmp(f[0], "netns") == 0)
        return mount_server_netns(f[1], f[2], f[3]);
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
            want = strcmp(f[0], "mount") == 0 ? 6 : strcmp(f[0], "umount") == 0 ? 3 : strcmp(f[0], "netns") == 0 ? 4 : 0;
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
