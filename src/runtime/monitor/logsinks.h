/*
 * Log sinks of berth-monitor besides the json-file lines: dockerd's "local"
 * file format, syslog and journald. Included once by berth-monitor.c (one
 * compile unit, so the monitor stays a single static binary without
 * dependencies); it uses the monitor's buf/diag helpers.
 *
 * Hand-written because each is a small wire format and the monitor (not
 * berthd) must write it: a container's output keeps reaching its driver while
 * berthd is down or restarting.
 *
 * local: each entry is [u32 BE size][protobuf LogEntry][u32 BE size] with
 *   LogEntry{1 source, 2 time_nano, 3 line (no newline), 4 partial,
 *   5 PartialLogEntryMetadata{1 last, 2 id, 3 ordinal}} (moby's
 *   api/types/plugins/logdriver/entry.proto).
 * Rotated files (local and json-file) are FILE.1..N, gzip-compressed to
 *   FILE.N.gz by a `gzip` child when --log-compress (as dockerd).
 * syslog: one message per line in the unix / rfc3164 / rfc5424 /
 *   rfc5424micro formats of dockerd's syslog driver, over unix (stream or
 *   datagram), udp or tcp (reconnected once per failed write).
 * journald: the native protocol, one datagram per line, MESSAGE binary-safe,
 *   plus the fixed fields berthd computed (CONTAINER_ID, …).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/uio.h>

static bool opt_log_local;     /* --log-format local (else json-file lines) */
static bool opt_log_compress;  /* --log-compress: gzip rotated files (local and json-file) */
static const char *opt_syslog; /* --syslog-address proto://addr ("local" = /dev/log) */
static const char *opt_syslog_format = "";
static const char *opt_syslog_tag = "";
static const char *opt_syslog_host = "";
static int opt_syslog_facility = 3; /* daemon */
static const char *opt_journal;     /* --journald-socket PATH */
static struct buf journal_fields;   /* "KEY=VALUE\n" lines from --journald-field */

static const char *opt_json_attrs; /* --log-json-attrs: the json-file "attrs" object, already JSON */

static long long log_now_ns; /* the timestamp of the entry being written (set with its rfc3339 form) */

/* --- local format ----------------------------------------------------------------------------- */

static void pb_varint(struct buf *b, unsigned long long v)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        t[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    buf_append(b, t, n);
}

static void pb_bytes(struct buf *b, unsigned field, const void *p, size_t n)
{
    pb_varint(b, (field << 3) | 2);
    pb_varint(b, n);
    buf_append(b, p, n);
}

static void be32(struct buf *b, size_t n)
{
    unsigned char t[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
    buf_append(b, t, 4);
}

/* One partial-line group (a line longer than LOG_LINE_MAX) per stream: its id and next ordinal. */
struct partial_group {
    char id[65];
    int ordinal;
};

static void partial_id(char out[65])
{
    unsigned char r[32];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        memset(r, 0, sizeof r);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* Append one local-format entry. `partial`: the line has no newline (more follows, or the stream ended). */
static void local_entry(struct buf *b, struct partial_group *g, const char *source, const char *line, size_t n, bool partial)
{
    struct buf m = {0};
    pb_bytes(&m, 1, source, strlen(source));
    pb_varint(&m, 2 << 3);
    pb_varint(&m, (unsigned long long)log_now_ns);
    pb_bytes(&m, 3, line, n);
    if (partial || g->ordinal > 0) {
        if (partial) {
            pb_varint(&m, 4 << 3);
            pb_varint(&m, 1);
        }
        if (g->ordinal == 0)
            partial_id(g->id);
        struct buf meta = {0};
        if (!partial) {
            pb_varint(&meta, 1 << 3);
            pb_varint(&meta, 1);
        }
        pb_bytes(&meta, 2, g->id, 64);
        pb_varint(&meta, 3 << 3);
        pb_varint(&meta, (unsigned long long)++g->ordinal);
        pb_bytes(&m, 5, meta.d, meta.len);
        buf_free(&meta);
        if (!partial)
            g->ordinal = 0;
    }
    be32(b, m.len);
    buf_append(b, m.d, m.len);
    be32(b, m.len);
    buf_free(&m);
}

/* The gzip child of the last rotation; the next rotation waits for it, so that no rename races it. */
static pid_t gzip_pid;

static void log_compress_wait(void)
{
    if (gzip_pid > 0) {
        int st;
        while (waitpid(gzip_pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    gzip_pid = 0;
}

/* Compress FILE.1 to FILE.1.gz in a child (reaped by the monitor's SIGCHLD loop or the next rotation). */
static void log_compress(const char *file)
{
    log_compress_wait();
    pid_t p = fork();
    if (p < 0) {
        diag("fork gzip: %s", strerror(errno));
        return;
    }
    if (p == 0) {
        execlp("gzip", "gzip", "-f", "-n", file, (char *)NULL);
        _exit(127);
    }
    gzip_pid = p;
}

/* --- syslog ------------------------------------------------------------------------------------- */

static int syslog_fd = -1;
static bool syslog_stream; /* stream sockets: tcp, unix */

/* A socket whose connect and sends give up after 5 s: a stalled peer must not stall the container for long. */
static int timed_socket(int domain, int type)
{
    int fd = socket(domain, type | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return fd;
}

static int syslog_connect(void)
{
    const char *a = opt_syslog;
    if (!strcmp(a, "local")) {
        static const char *paths[] = {"/dev/log", "/var/run/syslog", "/var/run/log"};
        for (size_t i = 0; i < 3; i++)
            for (int type = SOCK_DGRAM; type; type = type == SOCK_DGRAM ? SOCK_STREAM : 0) {
                int fd = timed_socket(AF_UNIX, type);
                struct sockaddr_un un = {.sun_family = AF_UNIX};
                snprintf(un.sun_path, sizeof un.sun_path, "%s", paths[i]);
                if (fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof un) == 0) {
                    syslog_stream = type == SOCK_STREAM;
                    return fd;
                }
                if (fd >= 0)
                    close(fd);
            }
        return -1;
    }
    if (!strncmp(a, "unix://", 7) || !strncmp(a, "unixgram://", 11)) {
        bool gram = a[4] == 'g';
        int fd = timed_socket(AF_UNIX, gram ? SOCK_DGRAM : SOCK_STREAM);
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        snprintf(un.sun_path, sizeof un.sun_path, "%s", a + (gram ? 11 : 7));
        if (fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof un) == 0) {
            syslog_stream = !gram;
            return fd;
        }
        if (fd >= 0)
            close(fd);
        return -1;
    }
    bool tcp = !strncmp(a, "tcp://", 6);
    const char *hp = a + 6; /* after "udp://" or "tcp://" */
    char host[256];
    const char *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof host)
        return -1;
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = 0;
    if (host[0] == '[') { /* [v6]:port */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = 0;
    }
    /* berthd resolved the name: a numeric v4 or v6 address (no getaddrinfo in a static binary) */
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    int port = atoi(colon + 1);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        sl = sizeof *in4;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        sl = sizeof *in6;
    } else
        return -1;
    int fd = timed_socket(ss.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        close(fd);
        fd = -1;
    }
    syslog_stream = tcp;
    return fd;
}

static void syslog_send(int severity, const char *line, size_t n)
{
    char head[512], stamp[64];
    struct timespec ts = {(time_t)(log_now_ns / 1000000000LL), (long)(log_now_ns % 1000000000LL)};
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    int pri = opt_syslog_facility * 8 + severity;
    int pid = (int)getpid();
    if (!strncmp(opt_syslog_format, "rfc5424", 7)) {
        size_t k = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!strcmp(opt_syslog_format, "rfc5424micro")) { /* Go's .999999: trailing zeros dropped */
            char frac[24];
            snprintf(frac, sizeof frac, ".%06ld", ts.tv_nsec / 1000);
            size_t fl = strlen(frac);
            while (fl > 1 && frac[fl - 1] == '0')
                frac[--fl] = 0;
            if (fl > 1)
                k += (size_t)snprintf(stamp + k, sizeof stamp - k, "%s", frac);
        }
        long off = tm.tm_gmtoff / 60;
        if (off == 0)
            snprintf(stamp + k, sizeof stamp - k, "Z");
        else
            snprintf(stamp + k, sizeof stamp - k, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
        snprintf(head, sizeof head, "<%d>1 %s %s %s %d %s - ", pri, stamp, opt_syslog_host, opt_syslog_tag, pid, opt_syslog_tag);
    } else {
        strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
        if (!strcmp(opt_syslog_format, "rfc3164"))
            snprintf(head, sizeof head, "<%d>%s %s %s[%d]: ", pri, stamp, opt_syslog_host, opt_syslog_tag, pid);
        else
            snprintf(head, sizeof head, "<%d>%s %s[%d]: ", pri, stamp, opt_syslog_tag, pid);
    }
    struct iovec iov[3] = {{head, strlen(head)}, {(void *)line, n}, {"\n", 1}};
    for (int attempt = 0; attempt < 2; attempt++) {
        if (syslog_fd < 0)
            syslog_fd = syslog_connect();
        if (syslog_fd < 0)
            break;
        size_t total = iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
        ssize_t w = writev(syslog_fd, iov, 3);
        if (w == (ssize_t)total)
            return;
        if (w > 0 && syslog_stream) { /* finish a short stream write */
            struct buf rest = {0};
            for (int i = 0; i < 3; i++)
                buf_append(&rest, iov[i].iov_base, iov[i].iov_len);
            int r = write_all(syslog_fd, rest.d + w, rest.len - (size_t)w);
            buf_free(&rest);
            if (r == 0)
                return;
        }
        close(syslog_fd);
        syslog_fd = -1;
    }
    static bool warned;
    if (!warned)
        diag("syslog %s: message dropped: %s", opt_syslog, strerror(errno));
    warned = true;
}

/* --- journald ----------------------------------------------------------------------------------- */

static int journal_fd = -1;

static void journal_send(int priority, const char *line, size_t n, bool partial)
{
    if (journal_fd < 0)
        journal_fd = timed_socket(AF_UNIX, SOCK_DGRAM);
    if (journal_fd < 0)
        return;
    char prio[32];
    snprintf(prio, sizeof prio, "PRIORITY=%d\n", priority);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((unsigned long long)n >> (8 * i));
    const char *part = partial ? "CONTAINER_PARTIAL_MESSAGE=true\n" : "";
    struct iovec iov[7] = {
        {"MESSAGE\n", 8}, {len, 8}, {(void *)line, n}, {"\n", 1}, {prio, strlen(prio)}, {(void *)part, strlen(part)},
        {journal_fields.d, journal_fields.len},
    };
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", opt_journal);
    struct msghdr mh = {.msg_name = &un, .msg_namelen = sizeof un, .msg_iov = iov, .msg_iovlen = 7};
    if (sendmsg(journal_fd, &mh, MSG_NOSIGNAL) < 0) {
        static bool warned;
        if (!warned)
            diag("journald %s: message dropped: %s", opt_journal, strerror(errno));
        warned = true;
    }
}

/* --- the network sinks, per entry --------------------------------------------------------------- */

static bool sinks_active(void) { return opt_syslog || opt_journal; }

/* One log entry (line without its newline; `partial` when it had none) to syslog / journald. */
static void sinks_emit(bool is_stderr, const char *line, size_t n, bool partial)
{
    if (opt_syslog)
        syslog_send(is_stderr ? 3 : 6, line, n);
    if (opt_journal)
        journal_send(is_stderr ? 3 : 6, line, n, partial);
}

/* Monitor options of this file; returns false when `a` is not one of them. */
static bool sinks_option(const char *a, const char *v)
{
    if (!strcmp(a, "--log-format")) {
        if (strcmp(v, "json") && strcmp(v, "local"))
            return false;
        opt_log_local = !strcmp(v, "local");
    } else if (!strcmp(a, "--syslog-address"))
        opt_syslog = v;
    else if (!strcmp(a, "--log-json-attrs"))
        opt_json_attrs = v;
    else if (!strcmp(a, "--syslog-format"))
        opt_syslog_format = v;
    else if (!strcmp(a, "--syslog-tag"))
        opt_syslog_tag = v;
    else if (!strcmp(a, "--syslog-hostname"))
        opt_syslog_host = v;
    else if (!strcmp(a, "--syslog-facility"))
        opt_syslog_facility = atoi(v) < 0 || atoi(v) > 23 ? 3 : atoi(v);
    else if (!strcmp(a, "--log-compress"))
        opt_log_compress = !strcmp(v, "true");
    else if (!strcmp(a, "--journald-socket"))
        opt_journal = v;
    else if (!strcmp(a, "--journald-field")) {
        if (!strchr(v, '=') || strchr(v, '\n'))
            return false;
        buf_str(&journal_fields, v);
        buf_str(&journal_fields, "\n");
    } else
        return false;
    return true;
}
