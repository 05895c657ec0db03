/*
 * log.c: diagnostic output.  qemu_log() (trace events of the log backend,
 * debug output) goes to stderr or to the file chosen with
 * qemu_log_set_file(); error_report() lines always go to stderr.  Both can
 * carry an ISO 8601 UTC timestamp.  Each call is written with a single
 * fwrite() under a lock, so lines of concurrent threads do not mix.
 */
#include "qemu/osdep.h"
#include "qemu/log.h"

#include <time.h>

static GMutex log_lock;
static FILE *log_file;             /* NULL: stderr */
static bool log_timestamps;
static bool log_at_line_start = true;
static char *log_prefix;           /* NULL: "blockd" */

void qemu_log_set_timestamps(bool on)
{
    __atomic_store_n(&log_timestamps, on, __ATOMIC_RELAXED);
}

void qemu_log_set_prefix(const char *prefix)
{
    g_mutex_lock(&log_lock);
    g_free(log_prefix);
    log_prefix = g_strdup(prefix);
    g_mutex_unlock(&log_lock);
}

const char *qemu_log_prefix(void)
{
    return log_prefix ? log_prefix : "blockd";
}

bool qemu_log_set_file(const char *path, Error **errp)
{
    FILE *f = NULL;

    if (path) {
        f = fopen(path, "a");
        if (!f) {
            error_setg_errno(errp, errno, "Could not open log file '%s'", path);
            return false;
        }
        setvbuf(f, NULL, _IOLBF, 0);
    }
    g_mutex_lock(&log_lock);
    if (log_file) {
        fclose(log_file);
    }
    log_file = f;
    log_at_line_start = true;
    g_mutex_unlock(&log_lock);
    return true;
}

char *qemu_log_timestamp(void)
{
    struct timespec ts;
    struct tm tm;
    char buf[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    return g_strdup_printf("%s.%06ldZ", buf, ts.tv_nsec / 1000);
}

static void log_append_timestamp(GString *line)
{
    char *ts = qemu_log_timestamp();

    g_string_append(line, ts);
    g_string_append_c(line, ' ');
    g_free(ts);
}

void qemu_log_vprintf(const char *fmt, va_list ap)
{
    GString *line = g_string_new(NULL);
    bool stamp = __atomic_load_n(&log_timestamps, __ATOMIC_RELAXED);
    FILE *out;

    g_string_append_vprintf(line, fmt, ap);

    g_mutex_lock(&log_lock);
    out = log_file ? log_file : stderr;
    if (stamp && log_at_line_start && line->len) {
        /* A call may continue a line started by the previous one. */
        GString *stamped = g_string_new(NULL);

        log_append_timestamp(stamped);
        g_string_prepend(line, stamped->str);
        g_string_free(stamped, TRUE);
    }
    if (line->len) {
        fwrite(line->str, 1, line->len, out);
        fflush(out);
        log_at_line_start = line->str[line->len - 1] == '\n';
    }
    g_mutex_unlock(&log_lock);
    g_string_free(line, TRUE);
}

void qemu_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    qemu_log_vprintf(fmt, ap);
    va_end(ap);
}

void qemu_log_report(const char *type, const char *hint, const char *fmt,
                     va_list ap)
{
    GString *line = g_string_new(NULL);

    if (__atomic_load_n(&log_timestamps, __ATOMIC_RELAXED)) {
        log_append_timestamp(line);
    }
    g_mutex_lock(&log_lock);
    g_string_append_printf(line, "%s: ", qemu_log_prefix());
    g_mutex_unlock(&log_lock);
    if (type) {
        g_string_append_printf(line, "%s: ", type);
    }
    g_string_append_vprintf(line, fmt, ap);
    g_string_append_c(line, '\n');
    if (hint) {
        g_string_append(line, hint);
    }

    g_mutex_lock(&log_lock);
    fwrite(line->str, 1, line->len, stderr);
    fflush(stderr);
    g_mutex_unlock(&log_lock);
    g_string_free(line, TRUE);
}
