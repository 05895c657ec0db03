/*
 * qmp.c: one QMP session on one connection.
 *
 * Input is a byte stream of JSON objects cut apart by json-c's streaming
 * tokenizer: several objects in one read and one object spread over many
 * reads both work.  A parse error produces one error reply and the parser
 * resynchronises at the next token, so the session survives.  Requests run
 * one at a time, in order: ordinary commands from a bottom half (outside
 * coroutine context, so they may wait for I/O with aio_poll), commands
 * marked 'coroutine' in a coroutine.  Replies are buffered and written as
 * the socket accepts them; reading pauses while the client lags.
 */
#include "qemu/osdep.h"
#include <poll.h>
#include "qemu/aio.h"
#include "qemu/coroutine.h"
#include "monitor/monitor.h"
#include "monitor-internal.h"
#include "qapi/qapi-commands.h"
#include "trace/trace-monitor.h"

#define QMP_READ_CHUNK (64 * 1024)

static void monitor_qmp_update_handlers(Monitor *mon);
static void monitor_qmp_dispatch_bh(void *opaque);

/* ---- output ---- */

static void monitor_qmp_free(Monitor *mon)
{
    trace_monitor_qmp_close(mon);
    monitor_unregister(mon);
    while (!g_queue_is_empty(&mon->requests)) {
        QMPRequest *r = g_queue_pop_head(&mon->requests);
        if (r->req) {
            json_object_put(r->req);
        }
        error_free(r->err);
        g_free(r);
    }
    qemu_bh_delete(mon->dispatch_bh);
    json_tokener_free(mon->tok);
    g_string_free(mon->outbuf, TRUE);
    g_free(mon);
}

static void monitor_qmp_free_bh(void *opaque)
{
    monitor_qmp_free(opaque);
}

/*
 * Free a closed session once nothing uses it any more.  Never frees
 * synchronously: the caller may be deep inside the session's own
 * dispatch or write path.
 */
static void monitor_qmp_maybe_free(Monitor *mon)
{
    if (mon->dead && !mon->dispatching && !mon->free_scheduled) {
        mon->free_scheduled = true;
        aio_bh_schedule_oneshot(qemu_get_aio_context(), monitor_qmp_free_bh, mon);
    }
}

/* Connection lost or closed by us: stop I/O; the session is freed once idle. */
static void monitor_qmp_disconnect(Monitor *mon)
{
    if (mon->dead) {
        return;
    }
    mon->dead = true;
    monitor_unregister(mon);
    aio_set_fd_handler(qemu_get_aio_context(), mon->in_fd, NULL, NULL, NULL);
    if (mon->out_fd != mon->in_fd) {
        aio_set_fd_handler(qemu_get_aio_context(), mon->out_fd, NULL, NULL, NULL);
    }
    close(mon->in_fd);
    if (mon->out_fd != mon->in_fd) {
        close(mon->out_fd);
    }
    monitor_qmp_maybe_free(mon);
}

static void monitor_qmp_flush(Monitor *mon)
{
    while (mon->out_off < mon->outbuf->len) {
        ssize_t n = write(mon->out_fd, mon->outbuf->str + mon->out_off,
                          mon->outbuf->len - mon->out_off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                break;
            }
            trace_monitor_qmp_io_error(mon, errno);
            monitor_qmp_disconnect(mon);
            return;
        }
        mon->out_off += n;
    }
    if (mon->out_off == mon->outbuf->len) {
        g_string_truncate(mon->outbuf, 0);
        mon->out_off = 0;
    } else if (mon->out_off > QMP_OUT_HIGH_WATER) {
        g_string_erase(mon->outbuf, 0, mon->out_off);
        mon->out_off = 0;
    }
    monitor_qmp_update_handlers(mon);
}

void monitor_qmp_send(Monitor *mon, json_object *obj)
{
    char *text;

    if (mon->dead) {
        return;
    }
    if (mon->outbuf->len - mon->out_off > QMP_OUT_MAX) {
        warn_report("QMP client on chardev '%s' does not read its replies; disconnecting",
                    mon->chr ? chardev_id(mon->chr) : "");
        monitor_qmp_disconnect(mon);
        return;
    }
    text = qmp_format_message(obj, mon->pretty);
    g_string_append(mon->outbuf, text);
    g_free(text);
    monitor_qmp_flush(mon);
}

static void monitor_qmp_write_ready(void *opaque)
{
    monitor_qmp_flush(opaque);
}

void monitor_qmp_send_greeting(Monitor *mon)
{
    json_object *qmp = json_object_new_object();
    json_object *version = json_object_new_object();
    json_object *triple = json_object_new_object();
    json_object *caps = json_object_new_array();
    json_object *greeting = json_object_new_object();

    json_object_object_add(triple, "micro", json_object_new_int(BLOCKD_VERSION_MICRO));
    json_object_object_add(triple, "minor", json_object_new_int(BLOCKD_VERSION_MINOR));
    json_object_object_add(triple, "major", json_object_new_int(BLOCKD_VERSION_MAJOR));
    json_object_object_add(version, "qemu", triple);
    json_object_object_add(version, "package", json_object_new_string("blockd " BLOCKD_VERSION));
    json_object_object_add(qmp, "version", version);
    json_object_array_add(caps, json_object_new_string("oob"));
    json_object_object_add(qmp, "capabilities", caps);
    json_object_object_add(greeting, "QMP", qmp);
    monitor_qmp_send(mon, greeting);
    json_object_put(greeting);
}

/* ---- input ---- */

static void monitor_qmp_queue(Monitor *mon, json_object *req, Error *err)
{
    QMPRequest *r = g_new0(QMPRequest, 1);
    r->req = req;
    r->err = err;
    g_queue_push_tail(&mon->requests, r);
    qemu_bh_schedule(mon->dispatch_bh);
}

static bool qmp_is_word_char(char c)
{
    return g_ascii_isalnum(c) || c == '_' || c == '-' || c == '+' || c == '.';
}

/*
 * Word an error the way QEMU's JSON parser does for the common cases:
 * a bad word is an "invalid keyword", a stray closing bracket means a
 * value was expected, any other odd byte is "stray".  buf[pos] is the
 * byte where json-c gave up.
 */
static Error *monitor_qmp_parse_error(enum json_tokener_error jerr,
                                      const char *buf, size_t len, size_t pos)
{
    Error *err = NULL;
    unsigned char c = (unsigned char)buf[pos];

    if (jerr == json_tokener_error_depth) {
        error_setg(&err, "JSON parse error, nesting depth limit exceeded");
    } else if (g_ascii_isalpha(c)) {
        size_t start = pos, end = pos;
        while (start > 0 && g_ascii_isalpha(buf[start - 1])) {
            start--;
        }
        while (end < len && end - start < 64 && g_ascii_isalpha(buf[end])) {
            end++;
        }
        error_setg(&err, "JSON parse error, invalid keyword '%.*s'",
                   (int)(end - start), buf + start);
    } else if (c == '}' || c == ']' || c == ',' || c == ':') {
        error_setg(&err, "JSON parse error, expecting value");
    } else if (c >= 0x80 || c < 0x20) {
        error_setg(&err, "JSON parse error, stray '\\x%02x'", c);
    } else {
        error_setg(&err, "JSON parse error, %s", json_tokener_error_desc(jerr));
    }
    return err;
}

/* Did the failed message start before buf[pos] (so it spans brackets)? */
static bool qmp_error_inside_message(Monitor *mon, const char *buf, size_t pos)
{
    if (mon->msg_bytes > 0) {
        return true;
    }
    for (size_t i = 0; i < pos; i++) {
        if (!g_ascii_isspace(buf[i])) {
            return true;
        }
    }
    return false;
}

/*
 * After a parse error, skip what QEMU's parser would also have thrown
 * away: the rest of the bad token and, when the error spoiled a message,
 * the brackets that closed it.  Returns how many bytes were skipped.
 */
static size_t monitor_qmp_resync(Monitor *mon, const char *buf, size_t len)
{
    size_t n = 0;

    if (mon->resync == QMP_RESYNC_WORD) {
        while (n < len && qmp_is_word_char(buf[n])) {
            n++;
        }
        if (n == len) {
            return n;
        }
        mon->resync = mon->resync_closers ? QMP_RESYNC_CLOSERS : QMP_RESYNC_NONE;
    }
    if (mon->resync == QMP_RESYNC_CLOSERS) {
        while (n < len && (g_ascii_isspace(buf[n]) || buf[n] == '}' || buf[n] == ']')) {
            n++;
        }
        if (n < len) {
            mon->resync = QMP_RESYNC_NONE;
        }
    }
    return n;
}

/*
 * Feed buf to the tokenizer, queueing every complete message and every
 * parse error in arrival order.  After an error parsing starts afresh
 * behind the bad token (QEMU likewise reports one error per bad token).
 */
static void monitor_qmp_parse(Monitor *mon, const char *buf, size_t len)
{
    while (len > 0) {
        if (mon->resync != QMP_RESYNC_NONE) {
            size_t skipped = monitor_qmp_resync(mon, buf, len);
            buf += skipped;
            len -= skipped;
            if (len == 0) {
                return;
            }
        }
        size_t chunk = MIN(len, (size_t)INT_MAX);
        json_object *obj = json_tokener_parse_ex(mon->tok, buf, (int)chunk);
        enum json_tokener_error jerr = json_tokener_get_error(mon->tok);
        size_t used = json_tokener_get_parse_end(mon->tok);

        if (used == 0 && jerr == json_tokener_continue) {
            used = chunk;
        }
        if (obj || jerr == json_tokener_success) {
            mon->msg_bytes = 0;
            json_tokener_reset(mon->tok);
            monitor_qmp_queue(mon, obj ? obj : json_object_new_null(), NULL);
        } else if (jerr == json_tokener_continue) {
            mon->msg_bytes += used;
            if (mon->msg_bytes > QMP_MAX_MESSAGE_BYTES) {
                Error *err = NULL;
                error_setg(&err, "JSON parse error, token size limit exceeded");
                json_tokener_reset(mon->tok);
                mon->msg_bytes = 0;
                monitor_qmp_queue(mon, NULL, err);
            }
        } else {
            size_t pos = MIN(used, chunk - 1);   /* the byte json-c rejected */
            Error *err = monitor_qmp_parse_error(jerr, buf, chunk, pos);

            trace_monitor_qmp_parse_error(mon, json_tokener_error_desc(jerr));
            mon->resync_closers = qmp_error_inside_message(mon, buf, pos);
            mon->resync = qmp_is_word_char(buf[pos]) ? QMP_RESYNC_WORD
                        : mon->resync_closers ? QMP_RESYNC_CLOSERS : QMP_RESYNC_NONE;
            json_tokener_reset(mon->tok);
            mon->msg_bytes = 0;
            monitor_qmp_queue(mon, NULL, err);
            used = pos + 1;
        }
        buf += used;
        len -= used;
    }
}

static void monitor_qmp_read_ready(void *opaque)
{
    Monitor *mon = opaque;
    char buf[QMP_READ_CHUNK];
    ssize_t n;

    n = read(mon->in_fd, buf, sizeof(buf));
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) {
            return;
        }
        trace_monitor_qmp_io_error(mon, errno);
        monitor_qmp_disconnect(mon);
        return;
    }
    if (n == 0) {
        monitor_qmp_disconnect(mon);
        return;
    }
    monitor_qmp_parse(mon, buf, n);
    monitor_qmp_update_handlers(mon);
}

/* Read only while the client keeps up; write only while output is pending. */
static void monitor_qmp_update_handlers(Monitor *mon)
{
    AioContext *ctx = qemu_get_aio_context();
    bool pending_out = mon->out_off < mon->outbuf->len;
    bool suspend = g_queue_get_length(&mon->requests) >= QMP_REQ_QUEUE_MAX ||
                   mon->outbuf->len - mon->out_off > QMP_OUT_HIGH_WATER;

    if (mon->dead) {
        return;
    }
    if (suspend == mon->read_suspended && pending_out == mon->want_write) {
        return;
    }
    mon->read_suspended = suspend;
    mon->want_write = pending_out;
    if (mon->in_fd == mon->out_fd) {
        aio_set_fd_handler(ctx, mon->in_fd, suspend ? NULL : monitor_qmp_read_ready,
                           pending_out ? monitor_qmp_write_ready : NULL, mon);
    } else {
        aio_set_fd_handler(ctx, mon->in_fd, suspend ? NULL : monitor_qmp_read_ready,
                           NULL, mon);
        aio_set_fd_handler(ctx, mon->out_fd, NULL,
                           pending_out ? monitor_qmp_write_ready : NULL, mon);
    }
}

/* ---- dispatch ---- */

static json_object *monitor_qmp_execute(Monitor *mon, json_object *req)
{
    json_object *rsp;

    monitor_set_cur(mon);
    rsp = qmp_dispatch(mon->commands, req, mon->oob_enabled);
    monitor_set_cur(NULL);

    /* Before negotiation only qmp_capabilities exists: say so, as QEMU does. */
    if (rsp && mon->negotiating) {
        json_object *error, *cls;
        if (json_object_object_get_ex(rsp, "error", &error) &&
            json_object_object_get_ex(error, "class", &cls) &&
            !strcmp(json_object_get_string(cls), "CommandNotFound")) {
            json_object_object_add(error, "desc", json_object_new_string(
                "Expecting capabilities negotiation with 'qmp_capabilities'"));
        }
    }
    return rsp;
}

static void monitor_qmp_respond(Monitor *mon, json_object *rsp)
{
    if (rsp) {
        monitor_qmp_send(mon, rsp);
        json_object_put(rsp);
    }
}

typedef struct QMPCoDispatch {
    Monitor *mon;
    json_object *req;
} QMPCoDispatch;

static void coroutine_fn monitor_qmp_dispatch_co(void *opaque)
{
    QMPCoDispatch *d = opaque;
    Monitor *mon = d->mon;
    json_object *rsp = monitor_qmp_execute(mon, d->req);

    monitor_qmp_respond(mon, rsp);
    json_object_put(d->req);
    g_free(d);
    mon->dispatching = false;
    if (mon->dead) {
        monitor_qmp_maybe_free(mon);
        return;
    }
    qemu_bh_schedule(mon->dispatch_bh);
}

/*
 * Requests wait (in order, in their queues) while dispatch is held: during
 * start-up, while the command line is still being processed, and while an
 * ordinary (non-coroutine) command runs, since such a command may poll the
 * event loop and must not find a second command running inside it.
 */
static bool qmp_dispatch_held;
static int qmp_sync_commands;

static void monitor_qmp_kick_all(void)
{
    for (Monitor *mon = monitor_first(); mon; mon = monitor_next(mon)) {
        if (!mon->dead && !g_queue_is_empty(&mon->requests)) {
            qemu_bh_schedule(mon->dispatch_bh);
        }
    }
}

void monitor_hold_dispatch(bool hold)
{
    qmp_dispatch_held = hold;
    if (!hold) {
        monitor_qmp_kick_all();
    }
}

static void monitor_qmp_dispatch_bh(void *opaque)
{
    Monitor *mon = opaque;
    int budget = 16;     /* then give other monitors and I/O a turn */

    if (qmp_dispatch_held || qmp_sync_commands > 0) {
        return;          /* kicked again when released */
    }

    while (!mon->dispatching && !mon->dead && budget-- > 0) {
        QMPRequest *r = g_queue_pop_head(&mon->requests);
        if (!r) {
            break;
        }
        if (r->err) {
            monitor_qmp_respond(mon, qmp_error_response(r->err));
        } else {
            const QmpCommand *cmd = qmp_dispatch_lookup(mon->commands, r->req);
            trace_monitor_qmp_cmd_in_band(cmd ? cmd->name : "");
            if (cmd && (cmd->options & QCO_COROUTINE)) {
                QMPCoDispatch *d = g_new0(QMPCoDispatch, 1);
                d->mon = mon;
                d->req = r->req;
                mon->dispatching = true;
                g_free(r);
                qemu_coroutine_spawn(monitor_qmp_dispatch_co, d);
                /* mon may be gone if the coroutine finished after a disconnect */
                return;
            }
            mon->dispatching = true;
            qmp_sync_commands++;
            json_object *rsp = monitor_qmp_execute(mon, r->req);
            qmp_sync_commands--;
            mon->dispatching = false;
            monitor_qmp_respond(mon, rsp);
            json_object_put(r->req);
        }
        g_free(r);
        if (mon->dead) {
            monitor_qmp_maybe_free(mon);
            return;
        }
    }
    if (!mon->dead && !mon->dispatching && !g_queue_is_empty(&mon->requests)) {
        qemu_bh_schedule(mon->dispatch_bh);
    }
    /* sessions that were held back while our command ran */
    monitor_qmp_kick_all();
    if (!mon->dead) {
        monitor_qmp_update_handlers(mon);
    }
}

/* ---- set-up ---- */

Monitor *monitor_qmp_new(Chardev *chr, int in_fd, int out_fd, bool pretty)
{
    Monitor *mon = g_new0(Monitor, 1);

    monitor_init_globals();
    mon->chr = chr;
    mon->in_fd = in_fd;
    mon->out_fd = out_fd;
    mon->pretty = pretty;
    mon->negotiating = true;
    mon->commands = &qmp_cap_negotiation_commands;
    mon->tok = json_tokener_new_ex(QMP_MAX_NESTING);
    json_tokener_set_flags(mon->tok, JSON_TOKENER_VALIDATE_UTF8);
    mon->outbuf = g_string_new(NULL);
    mon->dispatch_bh = aio_bh_new(qemu_get_aio_context(), monitor_qmp_dispatch_bh, mon);
    g_queue_init(&mon->requests);
    monitor_register(mon);
    trace_monitor_qmp_accept(mon, chr ? chardev_id(chr) : "");

    /* force the first handler update */
    mon->read_suspended = true;
    monitor_qmp_update_handlers(mon);
    monitor_qmp_send_greeting(mon);
    return mon;
}

/* The chardev's front-end opaque is just the pretty flag. */
static void monitor_qmp_accept(Chardev *chr, int in_fd, int out_fd, void *opaque)
{
    monitor_qmp_new(chr, in_fd, out_fd, GPOINTER_TO_INT(opaque) != 0);
}

bool monitor_init_qmp(Chardev *chr, bool pretty, Error **errp)
{
    monitor_init_globals();
    return chardev_set_frontend(chr, monitor_qmp_accept, GINT_TO_POINTER(pretty), errp);
}

/* Write what is still buffered, waiting at most timeout_ms for a slow client. */
static void monitor_qmp_flush_final(Monitor *mon, int timeout_ms)
{
    int64_t deadline = qemu_clock_get_ms() + timeout_ms;

    while (!mon->dead && mon->out_off < mon->outbuf->len) {
        struct pollfd pfd = { .fd = mon->out_fd, .events = POLLOUT };
        int64_t left = deadline - qemu_clock_get_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            break;
        }
        monitor_qmp_flush(mon);
    }
}

void monitor_cleanup(void)
{
    Monitor *mon;

    while ((mon = monitor_first()) != NULL) {
        monitor_qmp_flush_final(mon, 1000);
        monitor_qmp_disconnect(mon);
    }
    /* run the deferred frees of the sessions that were closed */
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* nothing */
    }
}
