/*
 * berth-monitor: the per-container monitor process of Berth (cf. conmon,
 * containerd-shim). One monitor supervises one process (a container's init in
 * create mode, or one exec'd process in exec mode) so that the process
 * outlives berthd.
 *
 *   berth-monitor --id ID --runtime PATH --runtime-root DIR --state-dir DIR
 *                 [--bundle DIR] [--exec PROCESS_JSON_FILE]
 *                 [--log-path FILE] [--log-max-size BYTES] [--log-max-files N]
 *                 [--log-format json|local] [--log-compress true] [--log-json-attrs JSON]
 *                 [--syslog-address A --syslog-format F --syslog-tag T --syslog-hostname H
 *                  --syslog-facility N] [--journald-socket P --journald-field K=V ...]
 *                 [--tty] [--stdin] [--loopback-up] [--oom-file FILE]
 *   berth-monitor --mount-server       (berthd's mount(2) helper: mountsrv.h)
 *
 * Start-up: fd 3 is the "sync pipe". The first process forks and exits 0; the
 * long-lived child becomes a child subreaper, sets itself up, creates the
 * container (create mode) and writes ONE JSON line to fd 3:
 *   {"ok":true,"monitorPid":N,"pid":P}   or   {"ok":false,"error":"..."}
 *
 * STATEDIR files: monitor.pid, monitor.log (own diagnostics), ctl.sock,
 * attach.sock, console.sock (transient, tty only), pid (runtime pid file),
 * exit (final status, written atomically; "oomKilled":true when the --oom-file
 * counter, the memory cgroup's `oom_kill N`, is above 0 before `runtime delete`).
 *
 * ctl.sock (line protocol): start | resize R C | close-stdin | kill SIG | wait
 *   replies: "ok[ <pid>]", "err <message>", "exit <code> <finishedAt>[ oom]".
 * attach.sock: client sends one flag byte (1 stdin, 2 stdout, 4 stderr,
 *   8 stdin-once), then receives Docker-multiplexed frames (raw bytes with a
 *   tty) and may send stdin bytes.
 *
 * Single-threaded, one poll() loop, non-blocking fds, SIGCHLD via signalfd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define SYNC_FD 3
#define LOG_LINE_MAX 16384            /* partial-line limit per stream */
#define STDIN_BUF_MAX 65536           /* pending bytes towards the container's stdin */
#define ATTACH_BUF_MAX (4u << 20)     /* per attach client output limit: drop beyond */
#define CTL_LINE_MAX 4096
#define DRAIN_TIMEOUT_MS 2000         /* output drain bound after the process exited */
#define FLUSH_TIMEOUT_MS 2000         /* client flush bound before the monitor exits */
#define CONSOLE_TIMEOUT_MS 5000
#define CAPTURE_MAX 65536

#define F_STDIN 1u
#define F_STDOUT 2u
#define F_STDERR 4u
#define F_STDIN_ONCE 8u

/* ------------------------------------------------------------------ */
/* options and state                                                   */

static const char *opt_id, *opt_runtime, *opt_root, *opt_state, *opt_bundle, *opt_exec, *opt_log;
static const char *opt_oom_file; /* memory.oom_control (v1) / memory.events (v2) of the container */
static long long opt_log_max_size;
static long opt_log_max_files = 1;
static bool opt_tty, opt_stdin, opt_loopback;

static char *p_ctl, *p_attach, *p_console, *p_pid, *p_exit, *p_exit_tmp, *p_monpid, *p_monpid_tmp, *p_monlog, *p_rtlog;

static int sync_fd = -1, sig_fd = -1, devnull = -1, reserve_fd = -1;
static int state_dirfd = -1; /* O_PATH handle on the state dir, for over-long socket paths */
static char console_arg[64]; /* --console-socket path given to the runtime */
static int ctl_lfd = -1, att_lfd = -1, console_lfd = -1;
static int out_fd = -1;  /* container stdout read end, or the pty master with --tty */
static int err_fd = -1;  /* container stderr read end (no tty) */
static int in_fd = -1;   /* container stdin write end (no tty, --stdin) */
static int c_in = -1, c_out = -1, c_err = -1; /* container-side ends until handed to the runtime */

static pid_t cpid;       /* supervised process */
static bool started, exited, created;
static bool final_phase; /* finalize() runs: `wait` is answered at once */
static int exit_code;
static char finished_at[64];
static bool oom_killed; /* the memory cgroup counted an OOM kill (read before runtime delete) */
static long long drain_deadline;

static struct buf { char *d; size_t off, len, cap; } stdin_buf;
static bool stdin_close_pending;

struct client {
    int fd;
    bool attach;       /* attach.sock client, else ctl.sock client */
    bool dead;
    bool closing;      /* close once the output buffer is flushed */
    bool wait_pending; /* ctl: waiting for the exit */
    bool got_flags;    /* attach: flag byte received */
    bool rd_eof;       /* attach: input reached EOF */
    bool stdin_done;   /* attach: stdin-once already handled */
    unsigned flags;
    struct buf in, out;
};
static struct client **clients;
static size_t nclients, capclients;

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void now_rfc3339(char out[64])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (long)ts.tv_nsec);
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
    char ts[64], msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    now_rfc3339(ts);
    dprintf(2, "%s berth-monitor[%d] %s: %s\n", ts, (int)getpid(), opt_id ? opt_id : "?", msg);
}

static void *xrealloc(void *p, size_t n)
{
    void *r = realloc(p, n);
    if (!r && n) {
        diag("out of memory");
        abort();
    }
    return r;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    char *s;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0) {
        diag("out of memory");
        abort();
    }
    return s;
}

static size_t buf_pending(const struct buf *b) { return b->len - b->off; }
static char *buf_head(const struct buf *b) { return b->d + b->off; }

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->off > 0 && b->len + extra > b->cap) {
        memmove(b->d, b->d + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + extra <= b->cap)
        return;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra)
        ncap *= 2;
    b->d = xrealloc(b->d, ncap);
    b->cap = ncap;
}

static void buf_append(struct buf *b, const void *p, size_t n)
{
    if (!n)
        return;
    buf_reserve(b, n);
    memcpy(b->d + b->len, p, n);
    b->len += n;
}

static void buf_str(struct buf *b, const char *s) { buf_append(b, s, strlen(s)); }

static void buf_free(struct buf *b)
{
    free(b->d);
    memset(b, 0, sizeof *b);
}

static void buf_consume(struct buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len) {
        b->off = b->len = 0;
        if (b->cap > 65536) /* keep the footprint small after bursts */
            buf_free(b);
    }
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pf = {fd, POLLOUT, 0};
                if (poll(&pf, 1, 1000) <= 0)
                    return -1;
                continue;
            }
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void xclose(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/*
 * Start-up (argument parsing, libc initialisation, the runtime calls) touches
 * most of a static binary's text, and fault-around maps even more. Once set up,
 * drop those page-table entries of our read-only, never-modified text mapping:
 * the few pages the main loop needs fault back in from the page cache. This
 * keeps the resident set at a fraction of the binary's size.
 */
static void trim_text(void)
{
    char maps[8192];
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, maps, sizeof maps - 1);
    close(fd);
    if (n <= 0)
        return;
    maps[n] = 0;
    uintptr_t self = (uintptr_t)&trim_text;
    for (char *line = maps; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && self >= lo && self < hi) {
            if (!strcmp(perms, "r-xp"))
                madvise((void *)lo, hi - lo, MADV_DONTNEED);
            return;
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < need)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

/* Append s as the inside of a JSON string; invalid UTF-8 bytes become \ufffd. */
static void json_escape(struct buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    buf_reserve(b, n + 16);
    while (i < n) {
        size_t run = i;
        /* copy runs of plain printable ASCII in one go */
        while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            char e[7];
            switch (c) {
            case '"': buf_append(b, "\\\"", 2); break;
            case '\\': buf_append(b, "\\\\", 2); break;
            case '\n': buf_append(b, "\\n", 2); break;
            case '\r': buf_append(b, "\\r", 2); break;
            case '\t': buf_append(b, "\\t", 2); break;
            default:
                e[0] = '\\'; e[1] = 'u'; e[2] = '0'; e[3] = '0';
                e[4] = hex[c >> 4]; e[5] = hex[c & 15];
                buf_append(b, e, 6);
            }
            i++;
            continue;
        }
        size_t l = utf8_len(s + i, n - i);
        if (l) {
            buf_append(b, s + i, l);
            i += l;
        } else {
            buf_append(b, "\\ufffd", 6);
            i++;
        }
    }
}

/* ------------------------------------------------------------------ */
/* sync pipe                                                           */

static void sync_send(const char *p, size_t n)
{
    if (sync_fd < 0)
        return;
    if (write_all(sync_fd, p, n) < 0)
        diag("writing the sync pipe: %s", strerror(errno));
    xclose(&sync_fd);
}

static void sync_error(const char *msg)
{
    struct buf b = {0};
    char pid[48];
    snprintf(pid, sizeof pid, "{\"ok\":false,\"monitorPid\":%d,\"error\":\"", (int)getpid());
    buf_str(&b, pid);
    json_escape(&b, msg, strlen(msg));
    buf_str(&b, "\"}\n");
    sync_send(b.d, b.len);
    buf_free(&b);
}

static void arg_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void arg_fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dprintf(2, "berth-monitor: %s\n", msg);
    sync_error(msg);
    exit(2);
}

/* ------------------------------------------------------------------ */
/* child processes                                                     */

static bool term_requested; /* SIGTERM / SIGINT received */

static void drain_signalfd(void)
{
    struct signalfd_siginfo si;
    while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            term_requested = true;
    }
}

static void read_available(int fd, struct buf *cap)
{
    char tmp[4096];
    for (;;) {
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r > 0) {
            if (buf_pending(cap) < CAPTURE_MAX)
                buf_append(cap, tmp, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        break;
    }
}

static void child_exec(char *const argv[], int fd0, int fd1, int fd2)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    if (dup2(fd0, 0) < 0 || dup2(fd1, 1) < 0 || dup2(fd2, 2) < 0)
        _exit(127);
    execvp(argv[0], argv);
    dprintf(2, "cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/*
 * Run a program to completion (the runtime). fds < 0 mean: stdin /dev/null,
 * stdout/stderr into `cap` (if given, else /dev/null). Returns the wait status,
 * or -1 if it could not be started.
 */
static int run_sync(char *const argv[], int fd0, int fd1, int fd2, struct buf *cap)
{
    int p[2] = {-1, -1};
    if ((fd1 < 0 || fd2 < 0) && cap) {
        if (pipe2(p, O_CLOEXEC) < 0)
            return -1;
        set_nonblock(p[0]);
    }
    if (fd0 < 0)
        fd0 = devnull;
    if (fd1 < 0)
        fd1 = p[1] >= 0 ? p[1] : devnull;
    if (fd2 < 0)
        fd2 = p[1] >= 0 ? p[1] : devnull;
    pid_t pid = fork();
    if (pid < 0) {
        xclose(&p[0]);
        xclose(&p[1]);
        return -1;
    }
    if (pid == 0)
        child_exec(argv, fd0, fd1, fd2);
    xclose(&p[1]);
    int status = -1;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) {
            if (r < 0)
                status = -1;
            if (p[0] >= 0)
                read_available(p[0], cap);
            break;
        }
        struct pollfd pf[2] = {{sig_fd, POLLIN, 0}, {p[0], POLLIN, 0}};
        if (poll(pf, 2, -1) < 0)
            continue;
        if (pf[0].revents)
            drain_signalfd();
        if (p[0] >= 0 && pf[1].revents) {
            char tmp[4096];
            ssize_t n = read(p[0], tmp, sizeof tmp);
            if (n > 0) {
                if (buf_pending(cap) < CAPTURE_MAX)
                    buf_append(cap, tmp, (size_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                xclose(&p[0]);
        }
    }
    xclose(&p[0]);
    return status;
}

/* Extract a readable message from the runtime's output (logrus lines or plain text). */
static void runtime_message(const char *what, int status, struct buf *cap, char *msg, size_t msglen)
{
    char *out = cap->d ? buf_head(cap) : NULL;
    size_t n = buf_pending(cap);
    msg[0] = 0;
    if (out && n) {
        /* NUL-terminate (capture buffers have room: reserve 1) */
        buf_reserve(cap, 1);
        out = buf_head(cap);
        out[n] = 0;
        char *line = out;
        while (line && *line) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = 0;
            if (strstr(line, "level=error") || strstr(line, "level=fatal")) {
                char *m = strstr(line, " msg=");
                if (m) {
                    m += 5;
                    size_t o = 0;
                    if (*m == '"') {
                        /* Go-quoted string: undo the common escapes */
                        for (m++; *m && *m != '"' && o + 2 < msglen; m++) {
                            if (*m == '\\' && m[1]) {
                                m++;
                                switch (*m) {
                                case 'n': msg[o++] = '\n'; break;
                                case 't': msg[o++] = '\t'; break;
                                case 'r': msg[o++] = '\r'; break;
                                case '"': case '\\': msg[o++] = *m; break;
                                default: msg[o++] = '\\'; msg[o++] = *m;
                                }
                            } else
                                msg[o++] = *m;
                        }
                    } else {
                        for (; *m && *m != ' ' && o + 1 < msglen; m++)
                            msg[o++] = *m;
                    }
                    msg[o] = 0;
                }
            }
            line = nl ? nl + 1 : NULL;
            if (nl)
                *nl = '\n';
        }
        if (!msg[0]) {
            /* plain text: trim whitespace */
            while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
                n--;
            while (n && (*out == '\n' || *out == ' ')) {
                out++;
                n--;
            }
            if (n >= msglen)
                n = msglen - 1;
            memcpy(msg, out, n);
            msg[n] = 0;
        }
    }
    if (!msg[0]) {
        if (status == -1)
            snprintf(msg, msglen, "runtime %s: cannot run %s", what, opt_runtime);
        else if (WIFSIGNALED(status))
            snprintf(msg, msglen, "runtime %s killed by signal %d", what, WTERMSIG(status));
        else
            snprintf(msg, msglen, "runtime %s failed with exit status %d", what, WEXITSTATUS(status));
    }
}

static bool status_ok(int st) { return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0; }

/* The `oom_kill N` counter of the container's memory cgroup (0 if unreadable). */
static long long read_oom_kills(const char *file)
{
    char b[4096];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0)
        return 0;
    b[n] = 0;
    for (char *l = b; l && *l;) {
        if (!strncmp(l, "oom_kill ", 9))
            return strtoll(l + 9, NULL, 10);
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    return 0;
}

static void runtime_delete(void)
{
    char *argv[] = {(char *)opt_runtime, "--root", (char *)opt_root, "delete", "--force", (char *)opt_id, NULL};
    struct buf cap = {0};
    int st = run_sync(argv, -1, -1, -1, &cap);
    if (!status_ok(st)) {
        char msg[1024];
        runtime_message("delete", st, &cap, msg, sizeof msg);
        diag("runtime delete: %s", msg);
    }
    buf_free(&cap);
}

/* ------------------------------------------------------------------ */
/* sockets                                                             */

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/*
 * Paths longer than sun_path allows are bound through the state directory's
 * descriptor: /proc/self/fd/N/NAME resolves to STATEDIR/NAME. Clients do the
 * same with their own descriptor (see monitor-client.ts).
 */
static int listen_unix(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strlen(path) <= SUN_PATH_MAX)
        memcpy(a.sun_path, path, strlen(path) + 1);
    else if (state_dirfd >= 0)
        snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", state_dirfd, name);
    else {
        snprintf(err, errlen, "socket path too long (%zu bytes, limit %zu): %s", strlen(path), SUN_PATH_MAX, path);
        return -1;
    }
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    chmod(path, 0600);
    if (listen(fd, 128) < 0) {
        snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

/* Receive the pty master from the runtime through the console socket. */
static int recv_console(char *err, size_t errlen)
{
    long long deadline = now_ms() + CONSOLE_TIMEOUT_MS;
    int conn = -1, master = -1;
    for (;;) {
        conn = accept4(console_lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(err, errlen, "accept console socket: %s", strerror(errno));
            goto out;
        }
        long long rem = deadline - now_ms();
        struct pollfd pf = {console_lfd, POLLIN, 0};
        if (rem <= 0 || poll(&pf, 1, (int)rem) == 0) {
            snprintf(err, errlen, "runtime did not send the terminal on %s", p_console);
            goto out;
        }
    }
    for (;;) {
        char data[4096];
        union {
            struct cmsghdr h;
            char b[CMSG_SPACE(sizeof(int) * 8)];
        } cb;
        struct iovec iov = {data, sizeof data};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = cb.b;
        m.msg_controllen = sizeof cb.b;
        ssize_t r = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            long long rem = deadline - now_ms();
            struct pollfd pf = {conn, POLLIN, 0};
            if (rem <= 0 || poll(&pf, 1, (int)rem) == 0) {
                snprintf(err, errlen, "runtime did not send the terminal");
                goto out;
            }
            continue;
        }
        if (r <= 0) {
            snprintf(err, errlen, "receiving the terminal: %s", r == 0 ? "connection closed" : strerror(errno));
            goto out;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int fds[8];
            if (nfd > 8)
                nfd = 8;
            memcpy(fds, CMSG_DATA(c), nfd * sizeof(int));
            for (size_t i = 0; i < nfd; i++) {
                if (master < 0)
                    master = fds[i];
                else
                    close(fds[i]);
            }
        }
        if (master < 0)
            snprintf(err, errlen, "runtime sent no terminal file descriptor");
        break;
    }
out:
    xclose(&conn);
    xclose(&console_lfd);
    unlink(p_console);
    if (master >= 0)
        set_nonblock(master);
    return master;
}

/* ------------------------------------------------------------------ */
/* container log: json-file lines or the local format, and syslog/journald */

#include "logsinks.h"
#include "mountsrv.h"

struct logstream {
    const char *name;
    char *buf;
    size_t len;
    struct partial_group pg;
};
static struct logstream ls_out = {"stdout", NULL, 0, {{0}, 0}}, ls_err = {"stderr", NULL, 0, {{0}, 0}};
static int log_fd = -1;
static long long log_size;
static bool log_failed;
static struct buf log_line;

static void log_open(bool truncate)
{
    log_fd = open(opt_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0640);
    if (log_fd < 0) {
        diag("open log %s: %s", opt_log, strerror(errno));
        return;
    }
    struct stat st;
    log_size = fstat(log_fd, &st) == 0 ? (long long)st.st_size : 0;
}

static void log_rotate(void)
{
    if (opt_log_max_files <= 1) {
        if (ftruncate(log_fd, 0) < 0)
            diag("truncate log: %s", strerror(errno));
        log_size = 0;
        return;
    }
    const char *gz = opt_log_compress ? ".gz" : ""; /* json-file and local alike, as dockerd */
    if (*gz)
        log_compress_wait(); /* FILE.1 is FILE.1.gz before it moves on */
    for (long i = opt_log_max_files - 1; i >= 1; i--) {
        char *from = i == 1 ? xasprintf("%s", opt_log) : xasprintf("%s.%ld%s", opt_log, i - 1, gz);
        char *to = xasprintf("%s.%ld%s", opt_log, i, i == 1 ? "" : gz);
        if (rename(from, to) < 0 && errno != ENOENT)
            diag("rotate %s: %s", from, strerror(errno));
        free(from);
        free(to);
    }
    xclose(&log_fd);
    log_open(true);
    if (*gz) {
        char *first = xasprintf("%s.1", opt_log);
        log_compress(first);
        free(first);
    }
}

/* The current time as the log's RFC 3339 stamp, also kept in log_now_ns for the local format and syslog. */
static void log_clock(char out[64])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    log_now_ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (long)ts.tv_nsec);
}

static void log_write(const char *p, size_t n)
{
    if (log_fd < 0 || n == 0)
        return;
    if (write_all(log_fd, p, n) < 0) {
        if (!log_failed)
            diag("write log: %s", strerror(errno));
        log_failed = true;
    } else {
        log_failed = false;
        log_size += (long long)n;
    }
}

/* Write the batched log entries (done after every chunk of output). */
static void log_write_pending(void)
{
    struct buf *b = &log_line;
    log_write(buf_head(b), buf_pending(b));
    b->off = b->len = 0;
    if (b->cap > 65536)
        buf_free(b);
}

static void log_emit(struct logstream *ls, const char *p, size_t n, const char *ts)
{
    if (n == 0)
        return;
    bool partial = p[n - 1] != '\n';
    if (sinks_active())
        sinks_emit(ls == &ls_err, p, partial ? n : n - 1, partial);
    if (log_fd < 0)
        return;
    struct buf *b = &log_line; /* off is always 0 here */
    size_t before = b->len;
    if (opt_log_local) {
        local_entry(b, &ls->pg, ls->name, p, partial ? n : n - 1, partial);
    } else {
        buf_str(b, "{\"log\":\"");
        json_escape(b, p, n);
        buf_str(b, "\",\"stream\":\"");
        buf_str(b, ls->name);
        if (opt_json_attrs) { /* dockerd's order: log, stream, attrs, time */
            buf_str(b, "\",\"attrs\":");
            buf_str(b, opt_json_attrs);
            buf_str(b, ",\"time\":\"");
        } else
            buf_str(b, "\",\"time\":\"");
        buf_str(b, ts);
        buf_str(b, "\"}\n");
    }
    size_t entry = b->len - before;
    long long used = log_size + (long long)before;
    if (opt_log_max_size > 0 && used > 0 && used + (long long)entry > opt_log_max_size) {
        /* the new entry goes to a fresh file: write the earlier ones first */
        log_write(b->d, before);
        memmove(b->d, b->d + before, entry);
        b->len = entry;
        log_rotate();
        if (log_fd < 0)
            return;
    }
    if (b->len >= 65536)
        log_write_pending();
}

static void log_feed(struct logstream *ls, const char *p, size_t n, const char *ts)
{
    if (log_fd < 0 && !sinks_active())
        return;
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) + 1 : n;
        if (ls->len == 0 && nl && seg <= LOG_LINE_MAX) {
            log_emit(ls, p, seg, ts); /* common case: a whole line, no copy */
            p += seg;
            n -= seg;
            continue;
        }
        if (!ls->buf)
            ls->buf = xrealloc(NULL, LOG_LINE_MAX);
        size_t room = LOG_LINE_MAX - ls->len;
        size_t take = seg < room ? seg : room;
        memcpy(ls->buf + ls->len, p, take);
        ls->len += take;
        p += take;
        n -= take;
        if (take == seg && nl) {
            log_emit(ls, ls->buf, ls->len, ts);
            ls->len = 0;
        } else if (ls->len == LOG_LINE_MAX) {
            /* flush a full partial line, without splitting a UTF-8 sequence */
            size_t cut = ls->len;
            for (size_t i = 1; i <= 3 && i <= ls->len; i++) {
                unsigned char c = (unsigned char)ls->buf[ls->len - i];
                if ((c & 0xC0) == 0x80)
                    continue;
                size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
                if (need > i)
                    cut = ls->len - i;
                break;
            }
            if (cut == 0)
                cut = ls->len;
            log_emit(ls, ls->buf, cut, ts);
            memmove(ls->buf, ls->buf + cut, ls->len - cut);
            ls->len -= cut;
        }
    }
}

static void log_flush_partial(struct logstream *ls)
{
    if (ls->len) {
        char ts[64];
        log_clock(ts);
        log_emit(ls, ls->buf, ls->len, ts);
        log_write_pending();
        ls->len = 0;
    }
    free(ls->buf);
    ls->buf = NULL;
}

/* ------------------------------------------------------------------ */
/* clients                                                             */

static void client_flush(struct client *c)
{
    while (!c->dead && buf_pending(&c->out)) {
        ssize_t w = send(c->fd, buf_head(&c->out), buf_pending(&c->out), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            buf_consume(&c->out, (size_t)w);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        c->dead = true; /* EPIPE, ECONNRESET, ... */
    }
    if (c->closing && !buf_pending(&c->out))
        c->dead = true;
}

static void client_reply(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void client_reply(struct client *c, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    /* one line per reply: flatten embedded newlines */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    buf_append(&c->out, line, (size_t)n);
    client_flush(c);
}

static void add_client(int fd, bool attach)
{
    if (nclients == capclients) {
        capclients = capclients ? capclients * 2 : 8;
        clients = xrealloc(clients, capclients * sizeof *clients);
    }
    struct client *c = xrealloc(NULL, sizeof *c);
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->attach = attach;
    clients[nclients++] = c;
}

static void do_accept(int lfd, bool attach)
{
    if (lfd < 0)
        return;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            add_client(fd, attach);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if ((errno == EMFILE || errno == ENFILE) && reserve_fd >= 0) {
            /* shed the connection instead of spinning on a readable listener */
            xclose(&reserve_fd);
            fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                close(fd);
            reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            diag("too many open files: dropped a connection");
        }
        break;
    }
}

static int stdin_target(void) { return opt_tty ? out_fd : in_fd; }

static void stdin_flush(void)
{
    int fd = stdin_target();
    if (fd < 0 && !(opt_tty && !started && opt_exec)) {
        /* container stdin is gone (or never existed): discard */
        buf_consume(&stdin_buf, buf_pending(&stdin_buf));
    }
    while (fd >= 0 && buf_pending(&stdin_buf)) {
        ssize_t w = write(fd, buf_head(&stdin_buf), buf_pending(&stdin_buf));
        if (w > 0) {
            buf_consume(&stdin_buf, (size_t)w);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            break;
        /* EPIPE (container closed its stdin), EIO (pty hung up) ... */
        buf_consume(&stdin_buf, buf_pending(&stdin_buf));
        if (!opt_tty)
            xclose(&in_fd);
        break;
    }
    if (stdin_close_pending && !buf_pending(&stdin_buf) && !opt_tty)
        xclose(&in_fd);
}

static void request_close_stdin(void)
{
    if (opt_tty)
        return; /* a terminal stays open; nothing to close */
    stdin_close_pending = true;
    stdin_flush();
}

static bool stdin_accepting(void)
{
    if (!opt_stdin || stdin_close_pending)
        return false;
    if (opt_tty)
        return out_fd >= 0 || (opt_exec && !started);
    return in_fd >= 0;
}

static void attach_read(struct client *c)
{
    char tmp[16384];
    size_t max = sizeof tmp;
    bool want_stdin = c->got_flags && (c->flags & F_STDIN) && stdin_accepting();
    if (want_stdin) {
        size_t p = buf_pending(&stdin_buf);
        size_t room = p < STDIN_BUF_MAX ? STDIN_BUF_MAX - p : 0;
        if (room == 0)
            return;
        if (room < max)
            max = room;
    }
    ssize_t r = read(c->fd, tmp, max);
    if (r < 0) {
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            c->dead = true;
        return;
    }
    if (r == 0) {
        c->rd_eof = true;
        if (!c->got_flags) {
            c->dead = true;
            return;
        }
        if ((c->flags & F_STDIN) && (c->flags & F_STDIN_ONCE) && !c->stdin_done) {
            c->stdin_done = true;
            request_close_stdin();
        }
        if (!(c->flags & (F_STDOUT | F_STDERR))) {
            c->closing = true;
            client_flush(c);
        }
        return;
    }
    size_t off = 0;
    if (!c->got_flags) {
        c->flags = (unsigned char)tmp[0];
        c->got_flags = true;
        off = 1;
    }
    if ((size_t)r > off && (c->flags & F_STDIN) && stdin_accepting()) {
        buf_append(&stdin_buf, tmp + off, (size_t)r - off);
        stdin_flush();
    }
}

/* Before starting: make sure attach clients that connected already get all output. */
static void settle_attach_clients(void)
{
    do_accept(att_lfd, true);
    for (size_t i = 0; i < nclients; i++) {
        struct client *c = clients[i];
        if (c->attach && !c->got_flags && !c->dead)
            attach_read(c);
    }
}

static void sweep_clients(void)
{
    size_t j = 0;
    for (size_t i = 0; i < nclients; i++) {
        struct client *c = clients[i];
        if (!c->dead) {
            clients[j++] = c;
            continue;
        }
        if (c->attach && (c->flags & F_STDIN) && (c->flags & F_STDIN_ONCE) && !c->stdin_done) {
            c->stdin_done = true;
            request_close_stdin();
        }
        close(c->fd);
        buf_free(&c->in);
        buf_free(&c->out);
        free(c);
    }
    nclients = j;
}

/* Send container output to attach clients and the log. stream: 1 stdout, 2 stderr. */
static void dispatch_output(int stream, const char *p, size_t n)
{
    char ts[64];
    log_clock(ts);
    log_feed(stream == 2 ? &ls_err : &ls_out, p, n, ts);
    log_write_pending();
    for (size_t i = 0; i < nclients; i++) {
        struct client *c = clients[i];
        if (!c->attach || !c->got_flags || c->dead)
            continue;
        if (opt_tty) {
            if (!(c->flags & (F_STDOUT | F_STDERR)))
                continue;
        } else {
            if (!(c->flags & (stream == 2 ? F_STDERR : F_STDOUT)))
                continue;
            unsigned char h[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                                  (unsigned char)(n >> 8), (unsigned char)n};
            buf_append(&c->out, h, 8);
        }
        buf_append(&c->out, p, n);
        client_flush(c);
        if (buf_pending(&c->out) > ATTACH_BUF_MAX) {
            diag("attach client too slow (%zu bytes pending): dropped", buf_pending(&c->out));
            c->dead = true;
        }
    }
}

static void on_output(int stream)
{
    int *fdp = stream == 2 ? &err_fd : &out_fd;
    char tmp[32768];
    for (int iter = 0; iter < 4 && *fdp >= 0; iter++) {
        ssize_t r = read(*fdp, tmp, sizeof tmp);
        if (r > 0) {
            dispatch_output(stream, tmp, (size_t)r);
            if ((size_t)r < sizeof tmp)
                break;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* EOF, or EIO from a pty whose slave side is gone */
        xclose(fdp);
        log_flush_partial(stream == 2 ? &ls_err : &ls_out);
        if (opt_tty)
            buf_consume(&stdin_buf, buf_pending(&stdin_buf));
    }
}

/* ------------------------------------------------------------------ */
/* process lifecycle                                                   */

static void mark_exited(int code)
{
    if (exited)
        return;
    exited = true;
    exit_code = code;
    now_rfc3339(finished_at);
    drain_deadline = now_ms() + DRAIN_TIMEOUT_MS;
    diag("process %d exited with code %d", (int)cpid, code);
}

static void reap(void)
{
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0 || (p < 0 && errno == EINTR)) {
        if (p > 0 && p == gzip_pid)
            gzip_pid = 0;
        if (p > 0 && p == cpid && !exited)
            mark_exited(WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255);
    }
}

static pid_t read_pid_file(void)
{
    char b[32];
    int fd = open(p_pid, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0)
        return -1;
    b[n] = 0;
    long v = strtol(b, NULL, 10);
    return v > 0 && v < INT_MAX ? (pid_t)v : -1;
}

/* Create the container's stdio: pipes, or the console socket with --tty. */
static int setup_stdio(char *err, size_t errlen)
{
    int p[2];
    if (opt_tty)
        return 0; /* console socket is set up right before the runtime call */
    if (pipe2(p, O_CLOEXEC) < 0)
        goto fail;
    out_fd = p[0];
    c_out = p[1];
    set_nonblock(out_fd);
    if (pipe2(p, O_CLOEXEC) < 0)
        goto fail;
    err_fd = p[0];
    c_err = p[1];
    set_nonblock(err_fd);
    if (opt_stdin) {
        if (pipe2(p, O_CLOEXEC) < 0)
            goto fail;
        c_in = p[0];
        in_fd = p[1];
        set_nonblock(in_fd);
    }
    return 0;
fail:
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
}

static void close_container_ends(void)
{
    xclose(&c_in);
    xclose(&c_out);
    xclose(&c_err);
}

/*
 * Run `runtime create` (create mode) or `runtime exec` (exec mode). On success
 * sets cpid (and out_fd with --tty). On failure fills err.
 */
static int runtime_launch(char *err, size_t errlen)
{
    const char *argv[20];
    int a = 0;
    bool exec_mode = opt_exec != NULL;
    argv[a++] = opt_runtime;
    argv[a++] = "--root";
    argv[a++] = opt_root;
    /* The runtime's own log lines go to a file of ours, not into the container's stderr (and its log). */
    argv[a++] = "--log";
    argv[a++] = p_rtlog;
    argv[a++] = "--log-format";
    argv[a++] = "text";
    if (exec_mode) {
        argv[a++] = "exec";
        argv[a++] = "--process";
        argv[a++] = opt_exec;
        argv[a++] = "--detach";
    } else {
        argv[a++] = "create";
        argv[a++] = "--bundle";
        argv[a++] = opt_bundle;
    }
    argv[a++] = "--pid-file";
    argv[a++] = p_pid;
    if (opt_tty) {
        argv[a++] = "--console-socket";
        if (strlen(p_console) <= SUN_PATH_MAX) {
            argv[a++] = p_console;
        } else { /* the runtime is another process: name our descriptor by pid */
            snprintf(console_arg, sizeof console_arg, "/proc/%d/fd/%d/console.sock", (int)getpid(), state_dirfd);
            argv[a++] = console_arg;
        }
        console_lfd = listen_unix(p_console, err, errlen);
        if (console_lfd < 0)
            return -1;
    }
    argv[a++] = opt_id;
    argv[a] = NULL;

    struct buf cap = {0};
    int st;
    unlink(p_pid);
    unlink(p_rtlog);
    if (!exec_mode)
        created = true; /* from here on a failure needs `runtime delete` */
    if (opt_tty)
        st = run_sync((char *const *)argv, -1, -1, -1, &cap);
    else
        st = run_sync((char *const *)argv, c_in, c_out, c_err, &cap);
    close_container_ends();
    int lfd = open(p_rtlog, O_RDONLY | O_CLOEXEC);
    if (lfd >= 0) {
        read_available(lfd, &cap);
        close(lfd);
    }
    if (!status_ok(st)) {
        /* without a tty the runtime's stderr is the container's stderr pipe */
        if (!opt_tty && err_fd >= 0)
            read_available(err_fd, &cap);
        runtime_message(exec_mode ? "exec" : "create", st, &cap, err, errlen);
        buf_free(&cap);
        xclose(&console_lfd);
        unlink(p_console);
        return -1;
    }
    if (buf_pending(&cap))
        diag("runtime output: %.*s", (int)(buf_pending(&cap) > 1000 ? 1000 : buf_pending(&cap)), buf_head(&cap));
    buf_free(&cap);
    if (opt_tty) {
        out_fd = recv_console(err, errlen);
        if (out_fd < 0)
            return -1;
    }
    cpid = read_pid_file();
    if (cpid <= 0) {
        cpid = 0;
        snprintf(err, errlen, "runtime %s succeeded but %s has no valid pid", exec_mode ? "exec" : "create", p_pid);
        return -1;
    }
    return 0;
}

static int loopback_up(char *err, size_t errlen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t ch = fork();
    if (ch < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (ch == 0) {
        char path[64];
        const char *step = "open";
        snprintf(path, sizeof path, "/proc/%d/ns/net", (int)cpid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            step = "setns";
            if (setns(fd, CLONE_NEWNET) == 0) {
                step = "socket";
                int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (s >= 0) {
                    struct ifreq ifr;
                    memset(&ifr, 0, sizeof ifr);
                    memcpy(ifr.ifr_name, "lo", 3);
                    step = "SIOCGIFFLAGS lo";
                    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
                        step = "SIOCSIFFLAGS lo";
                        ifr.ifr_flags |= IFF_UP;
                        if (ioctl(s, SIOCSIFFLAGS, &ifr) == 0)
                            _exit(0);
                    }
                }
            }
        }
        dprintf(p[1], "bringing up loopback: %s %s: %s", step, path, strerror(errno));
        _exit(1);
    }
    close(p[1]);
    int st;
    while (waitpid(ch, &st, 0) < 0 && errno == EINTR)
        ;
    ssize_t n = read(p[0], err, errlen - 1);
    close(p[0]);
    if (status_ok(st))
        return 0;
    if (n > 0)
        err[n] = 0;
    else
        snprintf(err, errlen, "bringing up loopback failed");
    return -1;
}

static void remove_files(void)
{
    unlink(p_ctl);
    unlink(p_attach);
    unlink(p_console);
    unlink(p_monpid);
}

static void startup_fail(const char *msg) __attribute__((noreturn));
static void startup_fail(const char *msg)
{
    diag("start-up failed: %s", msg);
    if (created)
        runtime_delete();
    if (cpid > 0) {
        kill(cpid, SIGKILL);
        cpid = 0;
    }
    xclose(&ctl_lfd);
    xclose(&att_lfd);
    xclose(&console_lfd);
    remove_files();
    sync_error(msg);
    exit(1);
}

static void write_file_atomic(const char *path, const char *tmp, const char *content)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        diag("open %s: %s", tmp, strerror(errno));
        return;
    }
    if (write_all(fd, content, strlen(content)) < 0 || fsync(fd) < 0)
        diag("write %s: %s", tmp, strerror(errno));
    close(fd);
    if (rename(tmp, path) < 0)
        diag("rename %s: %s", tmp, strerror(errno));
    int dfd = open(opt_state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

static ssize_t ctl_read(struct client *c);

/* The process exited and its output is drained (or the drain timed out). */
static void finalize(void) __attribute__((noreturn));
static void finalize(void)
{
    xclose(&out_fd);
    xclose(&err_fd);
    xclose(&in_fd);
    log_flush_partial(&ls_out);
    log_flush_partial(&ls_err);
    xclose(&log_fd);
    if (!opt_exec && opt_oom_file)
        oom_killed = read_oom_kills(opt_oom_file) > 0;
    if (!opt_exec && created)
        runtime_delete();

    char content[180];
    snprintf(content, sizeof content, "{\"exitCode\":%d,\"finishedAt\":\"%s\"%s}", exit_code, finished_at,
             oom_killed ? ",\"oomKilled\":true" : "");
    write_file_atomic(p_exit, p_exit_tmp, content);

    xclose(&ctl_lfd);
    xclose(&att_lfd);
    xclose(&console_lfd);
    unlink(p_ctl);
    unlink(p_attach);
    unlink(p_console);

    final_phase = true;
    for (size_t i = 0; i < nclients; i++) {
        struct client *c = clients[i];
        if (!c->attach && c->wait_pending) {
            c->wait_pending = false;
            client_reply(c, "exit %d %s%s", exit_code, finished_at, oom_killed ? " oom" : "");
        }
        /* answer commands that already arrived (closing a unix socket with
           unread input would reset the connection) */
        for (int k = 0; k < 64 && !c->attach && !c->dead && !c->closing && ctl_read(c) > 0; k++)
            ;
        c->closing = true;
        client_flush(c);
    }
    sweep_clients();
    long long deadline = now_ms() + FLUSH_TIMEOUT_MS;
    struct pollfd *pf = NULL;
    while (nclients > 0) {
        long long rem = deadline - now_ms();
        if (rem <= 0)
            break;
        pf = xrealloc(pf, nclients * sizeof *pf);
        for (size_t i = 0; i < nclients; i++) {
            pf[i].fd = clients[i]->fd;
            pf[i].events = POLLOUT;
            pf[i].revents = 0;
        }
        int n = poll(pf, nclients, (int)rem);
        if (n < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < nclients && n > 0; i++) {
            if (pf[i].revents & (POLLERR | POLLHUP | POLLNVAL))
                clients[i]->dead = true;
            else if (pf[i].revents & POLLOUT)
                client_flush(clients[i]);
        }
        sweep_clients();
    }
    free(pf);
    for (size_t i = 0; i < nclients; i++)
        clients[i]->dead = true;
    sweep_clients();
    reap();
    unlink(p_monpid);
    diag("monitor exiting (exit code %d)", exit_code);
    exit(0);
}

/* ------------------------------------------------------------------ */
/* ctl commands                                                        */

static void cmd_start(struct client *c)
{
    char err[4096];
    if (started) {
        client_reply(c, "err already started");
        return;
    }
    if (exited) {
        client_reply(c, "err process already exited");
        return;
    }
    settle_attach_clients();
    started = true;
    if (opt_exec) {
        if (runtime_launch(err, sizeof err) < 0) {
            diag("exec failed: %s", err);
            client_reply(c, "err %s", err);
            /* no process will ever run: report it as exited with 126 like Docker */
            mark_exited(126);
            return;
        }
        stdin_flush();
        client_reply(c, "ok %d", (int)cpid);
        return;
    }
    char *argv[] = {(char *)opt_runtime, "--root", (char *)opt_root, "start", (char *)opt_id, NULL};
    struct buf cap = {0};
    int st = run_sync(argv, -1, -1, -1, &cap);
    if (!status_ok(st)) {
        runtime_message("start", st, &cap, err, sizeof err);
        diag("start failed: %s", err);
        client_reply(c, "err %s", err);
        started = false;
    } else
        client_reply(c, "ok %d", (int)cpid);
    buf_free(&cap);
}

static void ctl_command(struct client *c, char *line)
{
    char *arg = strchr(line, ' ');
    if (arg)
        *arg++ = 0;
    if (!strcmp(line, "start")) {
        cmd_start(c);
        trim_text(); /* fork + the runtime call touched a lot of text again */
    } else if (!strcmp(line, "resize")) {
        unsigned rows, cols;
        if (!arg || sscanf(arg, "%u %u", &rows, &cols) != 2 || rows > 65535 || cols > 65535) {
            client_reply(c, "err usage: resize <rows> <cols>");
        } else if (!opt_tty) {
            client_reply(c, "err not a terminal");
        } else if (out_fd < 0) {
            if (started || exited)
                client_reply(c, "ok"); /* the process is gone and its terminal hung up */
            else
                client_reply(c, "err terminal not available");
        } else {
            struct winsize ws;
            memset(&ws, 0, sizeof ws);
            ws.ws_row = (unsigned short)rows;
            ws.ws_col = (unsigned short)cols;
            if (ioctl(out_fd, TIOCSWINSZ, &ws) < 0)
                client_reply(c, "err resize: %s", strerror(errno));
            else
                client_reply(c, "ok");
        }
    } else if (!strcmp(line, "close-stdin")) {
        request_close_stdin();
        client_reply(c, "ok");
    } else if (!strcmp(line, "kill")) {
        char *end = NULL;
        long sig = arg ? strtol(arg, &end, 10) : -1;
        if (!arg || end == arg || (*end && *end != ' ') || sig < 0 || sig > 64) {
            client_reply(c, "err usage: kill <signum>");
        } else if (cpid <= 0) {
            client_reply(c, "err process not started");
        } else if (exited) {
            client_reply(c, "ok"); /* already gone: nothing to do */
        } else if (kill(cpid, (int)sig) < 0 && errno != ESRCH) {
            client_reply(c, "err kill: %s", strerror(errno));
        } else {
            client_reply(c, "ok");
        }
    } else if (!strcmp(line, "wait")) {
        if (final_phase)
            client_reply(c, "exit %d %s%s", exit_code, finished_at, oom_killed ? " oom" : "");
        else
            c->wait_pending = true; /* answered by finalize() */
    } else if (!strcmp(line, "")) {
        /* ignore empty lines */
    } else {
        client_reply(c, "err unknown command: %s", line);
    }
}

static ssize_t ctl_read(struct client *c)
{
    char tmp[1024];
    ssize_t r = read(c->fd, tmp, sizeof tmp);
    if (r < 0) {
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            c->dead = true;
        return r;
    }
    if (r == 0) {
        /* peer done sending: deliver what is queued, then close */
        c->closing = true;
        client_flush(c);
        return 0;
    }
    buf_append(&c->in, tmp, (size_t)r);
    while (!c->dead && !c->closing && !c->wait_pending) {
        char *start = buf_head(&c->in);
        size_t n = buf_pending(&c->in);
        char *nl = memchr(start, '\n', n);
        if (!nl) {
            if (n > CTL_LINE_MAX) {
                client_reply(c, "err line too long");
                c->closing = true;
                client_flush(c);
            }
            break;
        }
        *nl = 0;
        if (nl > start && nl[-1] == '\r')
            nl[-1] = 0;
        ctl_command(c, start);
        buf_consume(&c->in, (size_t)(nl - start) + 1);
    }
    return r;
}

/* ------------------------------------------------------------------ */
/* main loop                                                           */

/* SIGTERM on an exec monitor that was never started: clean up and go. */
static void discard_unstarted(void) __attribute__((noreturn));
static void discard_unstarted(void)
{
    diag("terminated before start");
    for (size_t i = 0; i < nclients; i++)
        clients[i]->dead = true;
    sweep_clients();
    xclose(&ctl_lfd);
    xclose(&att_lfd);
    remove_files();
    exit(0);
}

enum { PI_SIG, PI_CTL, PI_ATT, PI_OUT, PI_ERR, PI_IN, PI_FIXED };

static void main_loop(void) __attribute__((noreturn));
static void main_loop(void)
{
    struct pollfd *pfds = NULL;
    size_t pcap = 0;
    for (;;) {
        reap();
        sweep_clients();
        if (exited && ((out_fd < 0 && err_fd < 0) || now_ms() >= drain_deadline))
            finalize();

        size_t npolled = nclients;
        if (pcap < PI_FIXED + npolled) {
            pcap = PI_FIXED + npolled + 8;
            pfds = xrealloc(pfds, pcap * sizeof *pfds);
        }
        bool stdin_pending = buf_pending(&stdin_buf) > 0 && stdin_target() >= 0;
        pfds[PI_SIG] = (struct pollfd){sig_fd, POLLIN, 0};
        pfds[PI_CTL] = (struct pollfd){ctl_lfd, POLLIN, 0};
        pfds[PI_ATT] = (struct pollfd){att_lfd, POLLIN, 0};
        pfds[PI_OUT] = (struct pollfd){out_fd, POLLIN, 0};
        pfds[PI_ERR] = (struct pollfd){err_fd, POLLIN, 0};
        pfds[PI_IN] = (struct pollfd){stdin_pending ? stdin_target() : -1, POLLOUT, 0};
        for (size_t i = 0; i < npolled; i++) {
            struct client *c = clients[i];
            short ev = 0;
            if (c->attach) {
                if (!c->rd_eof) {
                    bool stdin_client = c->got_flags && (c->flags & F_STDIN) && stdin_accepting();
                    if (!stdin_client || buf_pending(&stdin_buf) < STDIN_BUF_MAX)
                        ev |= POLLIN;
                }
            } else if (!c->wait_pending && !c->closing) {
                ev |= POLLIN;
            }
            if (buf_pending(&c->out))
                ev |= POLLOUT;
            pfds[PI_FIXED + i] = (struct pollfd){c->fd, ev, 0};
        }
        int timeout = -1;
        if (exited) {
            long long rem = drain_deadline - now_ms();
            timeout = rem < 0 ? 0 : (int)rem;
        }
        int n = poll(pfds, PI_FIXED + npolled, timeout);
        if (n < 0) {
            if (errno != EINTR) {
                diag("poll: %s", strerror(errno));
                sleep(1);
            }
            continue;
        }
        if (n == 0)
            continue;
        if (pfds[PI_SIG].revents)
            drain_signalfd();
        reap();
        if (term_requested) {
            term_requested = false;
            if (opt_exec && !started)
                discard_unstarted();
            diag("ignoring SIGTERM/SIGINT while supervising a process (use the kill command)");
        }
        if (pfds[PI_OUT].revents && pfds[PI_OUT].fd == out_fd)
            on_output(1);
        if (pfds[PI_ERR].revents && pfds[PI_ERR].fd == err_fd)
            on_output(2);
        if (pfds[PI_IN].revents && pfds[PI_IN].fd >= 0 && pfds[PI_IN].fd == stdin_target()) {
            if (pfds[PI_IN].revents & POLLOUT)
                stdin_flush();
            else { /* hung up / error: nobody will read this input */
                buf_consume(&stdin_buf, buf_pending(&stdin_buf));
                stdin_flush();
            }
        }
        for (size_t i = 0; i < npolled; i++) {
            struct client *c = clients[i];
            short re = pfds[PI_FIXED + i].revents;
            if (!re || c->dead)
                continue;
            if (re & POLLNVAL) {
                c->dead = true;
                continue;
            }
            if (re & POLLOUT)
                client_flush(c);
            if (re & POLLIN) {
                if (c->attach)
                    attach_read(c);
                else
                    ctl_read(c);
            } else if (re & (POLLHUP | POLLERR)) {
                c->dead = true;
            }
        }
        if (pfds[PI_CTL].revents)
            do_accept(ctl_lfd, false);
        if (pfds[PI_ATT].revents)
            do_accept(att_lfd, true);
    }
}

/* ------------------------------------------------------------------ */
/* start-up                                                            */

static bool valid_id(const char *s)
{
    if (!*s || strlen(s) > 1024)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (p != s && (c == '_' || c == '.' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

static const char *abs_path(const char *p, const char *cwd)
{
    if (!p || p[0] == '/')
        return p;
    return xasprintf("%s/%s", cwd, p);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (!strcmp(a, "--tty")) {
            opt_tty = true;
            continue;
        }
        if (!strcmp(a, "--stdin")) {
            opt_stdin = true;
            continue;
        }
        if (!strcmp(a, "--loopback-up")) {
            opt_loopback = true;
            continue;
        }
        if (i + 1 >= argc)
            arg_fail("missing value for %s", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--id"))
            dst = &opt_id;
        else if (!strcmp(a, "--runtime"))
            dst = &opt_runtime;
        else if (!strcmp(a, "--runtime-root"))
            dst = &opt_root;
        else if (!strcmp(a, "--state-dir"))
            dst = &opt_state;
        else if (!strcmp(a, "--bundle"))
            dst = &opt_bundle;
        else if (!strcmp(a, "--exec"))
            dst = &opt_exec;
        else if (!strcmp(a, "--log-path"))
            dst = &opt_log;
        else if (!strcmp(a, "--oom-file"))
            dst = &opt_oom_file;
        else if (!strcmp(a, "--log-max-size") || !strcmp(a, "--log-max-files")) {
            char *end;
            errno = 0;
            long long n = strtoll(v, &end, 10);
            if (errno || end == v || *end || n < 0)
                arg_fail("invalid value for %s: %s", a, v);
            if (!strcmp(a, "--log-max-size"))
                opt_log_max_size = n;
            else
                opt_log_max_files = n < 1 ? 1 : n > 1000 ? 1000 : (long)n;
            continue;
        } else if (sinks_option(a, v))
            continue;
        else
            arg_fail("unknown option or value %s %s", a, v);
        if (!*v)
            arg_fail("empty value for %s", a);
        *dst = v;
    }
    if (!opt_id || !opt_runtime || !opt_root || !opt_state)
        arg_fail("--id, --runtime, --runtime-root and --state-dir are required");
    if (!valid_id(opt_id))
        arg_fail("invalid container id: %s", opt_id);
    if (!opt_exec && !opt_bundle)
        arg_fail("--bundle is required unless --exec is given");
    if (opt_exec && opt_loopback)
        arg_fail("--loopback-up is only valid when creating a container");

    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, "/");
    opt_state = abs_path(opt_state, cwd);
    opt_root = abs_path(opt_root, cwd);
    opt_bundle = abs_path(opt_bundle, cwd);
    opt_exec = abs_path(opt_exec, cwd);
    opt_log = abs_path(opt_log, cwd);
    if (strchr(opt_runtime, '/'))
        opt_runtime = abs_path(opt_runtime, cwd);

    p_ctl = xasprintf("%s/ctl.sock", opt_state);
    p_attach = xasprintf("%s/attach.sock", opt_state);
    p_console = xasprintf("%s/console.sock", opt_state);
    p_pid = xasprintf("%s/pid", opt_state);
    p_exit = xasprintf("%s/exit", opt_state);
    p_exit_tmp = xasprintf("%s/exit.tmp", opt_state);
    p_monpid = xasprintf("%s/monitor.pid", opt_state);
    p_monpid_tmp = xasprintf("%s/monitor.pid.tmp", opt_state);
    p_monlog = xasprintf("%s/monitor.log", opt_state);
    p_rtlog = xasprintf("%s/runtime.log", opt_state);
}

static void close_other_fds(void)
{
    int keep = sync_fd >= 0 ? SYNC_FD + 1 : SYNC_FD;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)keep, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1 << 20)
        max = 1 << 20;
    for (int fd = keep; fd < max; fd++)
        close(fd);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--mount-server") == 0)
        return mount_server();
    if (fcntl(SYNC_FD, F_GETFD) >= 0) {
        sync_fd = SYNC_FD;
        fcntl(sync_fd, F_SETFD, FD_CLOEXEC);
    }
    parse_args(argc, argv);

    pid_t pid = fork();
    if (pid < 0)
        arg_fail("fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0); /* the caller reaps us; the monitor lives on in the child */

    close_other_fds();
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    if (chdir("/") < 0)
        diag("chdir /: %s", strerror(errno));
    umask(022);

    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0)
        startup_fail("cannot open /dev/null");
    dup2(devnull, 0);
    dup2(devnull, 1);
    int lfd = open(p_monlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    dup2(lfd >= 0 ? lfd : devnull, 2);
    if (lfd >= 0)
        close(lfd);

    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigaddset(&chld, SIGTERM);
    sigaddset(&chld, SIGINT);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    sig_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0)
        startup_fail("signalfd failed");

    diag("monitor starting (%s mode)", opt_exec ? "exec" : "create");
    unlink(p_exit);
    unlink(p_exit_tmp);
    unlink(p_pid);

    char err[4096];
    char pidline[32];
    snprintf(pidline, sizeof pidline, "%d\n", (int)getpid());
    write_file_atomic(p_monpid, p_monpid_tmp, pidline);

    state_dirfd = open(opt_state, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (state_dirfd < 0) {
        snprintf(err, sizeof err, "state directory %s: %s", opt_state, strerror(errno));
        startup_fail(err);
    }
    ctl_lfd = listen_unix(p_ctl, err, sizeof err);
    if (ctl_lfd < 0)
        startup_fail(err);
    att_lfd = listen_unix(p_attach, err, sizeof err);
    if (att_lfd < 0)
        startup_fail(err);
    if (setup_stdio(err, sizeof err) < 0)
        startup_fail(err);
    if (opt_log)
        log_open(false);

    if (!opt_exec) {
        if (runtime_launch(err, sizeof err) < 0)
            startup_fail(err);
        if (opt_loopback && loopback_up(err, sizeof err) < 0)
            startup_fail(err);
    }

    char ok[128];
    int n = snprintf(ok, sizeof ok, "{\"ok\":true,\"monitorPid\":%d,\"pid\":%d}\n", (int)getpid(), (int)cpid);
    sync_send(ok, (size_t)n);
    diag("ready, pid %d", (int)cpid);
    trim_text();
    main_loop();
}
