/*
 * nbd.c: the `nbd` protocol driver: a node whose data lives in an export
 * of a remote NBD server (BlockdevOptionsNbd).
 *
 * One connection per node carries up to MAX_NBD_REQUESTS requests at once.
 * A reply-reader coroutine reads each reply header and hands it, by
 * cookie, to the request coroutine waiting for it; that coroutine reads
 * the payload straight into its own buffers and hands the socket back.
 * When the connection is lost, in-flight requests are failed (or, with
 * reconnect-delay, re-sent once a new connection is up: requests wait at
 * most reconnect-delay seconds for it).  A job's force cancel
 * (bdrv_cancel_in_flight) drops the connection and fails every request
 * begun before it, without reconnecting for them.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/nbd-client.h"
#include "qapi/qapi-visit.h"
#include "trace/trace-block.h"

#define MAX_NBD_REQUESTS    16
#define COOKIE_TO_INDEX(c)  ((c) - 1)
#define INDEX_TO_COOKIE(i)  ((uint64_t)(i) + 1)

/* First and largest pause between two reconnection attempts */
#define NBD_RECONNECT_MIN_NS    (10 * SCALE_MS)
#define NBD_RECONNECT_MAX_NS    (1000 * SCALE_MS)

typedef enum NBDClientState {
    NBD_CLIENT_CONNECTED,
    NBD_CLIENT_CONNECTING_WAIT,     /* lost; requests wait for a reconnection */
    NBD_CLIENT_CONNECTING_NOWAIT,   /* lost; requests try once, then fail */
    NBD_CLIENT_QUIT,                /* closing, or a protocol error: no more I/O */
} NBDClientState;

typedef struct NBDClientRequest {
    bool in_use;
    Coroutine *co;                  /* the request's coroutine */
    uint64_t gen;                   /* connection generation it was sent on */
    bool waiting;                   /* yielded in nbd_co_wait_reply() */
    bool reply_ready;               /* s->reply holds a header for it */
} NBDClientRequest;

/* What one request collects from its reply chunks */
typedef struct NBDReplyResult {
    QEMUIOVector *qiov;             /* NBD_CMD_READ destination */
    bool got_extent;
    uint32_t extent_len;            /* first extent (NBD_CMD_BLOCK_STATUS) */
    uint32_t extent_flags;
    int error;                      /* first error the server reported, errno */
} NBDReplyResult;

typedef struct BDRVNBDState {
    BlockDriverState *bs;
    AioContext *ctx;
    SocketAddress *saddr;
    char *export;
    char *x_dirty_bitmap;
    uint32_t reconnect_delay;
    uint32_t open_timeout;

    NBDClientSocket *sock;
    NBDExportInfo info;
    NBDClientState state;
    uint64_t conn_gen;              /* bumped when a connection ends */
    int64_t reconnect_deadline_ns;
    bool connecting;                /* a coroutine is (re)connecting */
    uint64_t cancel_gen;            /* bumped by nbd_cancel_in_flight() */
    NBDConnectAttempt *attempt;     /* the connection being set up, if any */
    bool attempt_timed_out;         /* its deadline cancelled it */
    uint64_t connect_attempts;
    CoQueue connect_queue;          /* requests waiting for the connection */
    QemuCoSleep reconnect_sleep;

    CoMutex send_mutex;
    CoQueue free_sema;              /* requests waiting for a free slot */
    int in_flight;
    NBDClientRequest requests[MAX_NBD_REQUESTS];

    Coroutine *reader_co;           /* reply reader, NULL when not running */
    bool reader_waiting;            /* reader yielded until the hand-off ends */
    NBDClientRequest *handoff;      /* request now reading its payload */
    NBDReply reply;                 /* header being handed off */
    CoQueue reader_exit_queue;      /* woken when the reader ends */
    bool *disc_done;                /* set when NBD_CMD_DISC was sent */
} BDRVNBDState;

static void coroutine_fn nbd_reader_entry(void *opaque);

/* ---- connection state ---- */

static bool nbd_client_will_reconnect(BDRVNBDState *s)
{
    return s->state == NBD_CLIENT_CONNECTING_WAIT;
}

/*
 * The connection of generation gen failed with ret: a lost connection
 * (-EIO) leads to reconnecting, anything else (protocol errors) to QUIT.
 * Waiting requests are woken and see the connection is gone.
 */
static void nbd_channel_error(BDRVNBDState *s, uint64_t gen, int ret)
{
    int i;

    if (gen != s->conn_gen) {
        return;     /* that connection is already gone */
    }
    trace_nbd_channel_error(ret, s->state);
    if (s->state == NBD_CLIENT_CONNECTED) {
        if (ret == -EIO) {
            s->state = s->reconnect_delay ? NBD_CLIENT_CONNECTING_WAIT
                                          : NBD_CLIENT_CONNECTING_NOWAIT;
            s->reconnect_deadline_ns = qemu_clock_get_ns() +
                (int64_t)s->reconnect_delay * NANOSECONDS_PER_SECOND;
        } else {
            s->state = NBD_CLIENT_QUIT;
        }
    }
    s->conn_gen++;
    if (s->sock) {
        nbd_sock_shutdown(s->sock);
    }
    for (i = 0; i < MAX_NBD_REQUESTS; i++) {
        NBDClientRequest *req = &s->requests[i];
        if (req->in_use && req->waiting && !req->reply_ready) {
            aio_co_wake(req->co);
        }
    }
}

/* "host:port" or the UNIX socket path, for messages */
static char *nbd_server_desc(BDRVNBDState *s)
{
    if (s->saddr->type == SOCKET_ADDRESS_TYPE_UNIX) {
        return g_strdup(s->saddr->u.q_unix.path);
    }
    return g_strdup_printf("%s:%s", s->saddr->u.inet.host,
                           s->saddr->u.inet.port);
}

static void nbd_connect_timer_cb(void *opaque)
{
    BDRVNBDState *s = opaque;

    trace_nbd_connect_timeout(s->export);
    s->attempt_timed_out = true;
    if (s->attempt) {
        nbd_connect_cancel(s->attempt);
    }
}

/* Stop the connection being set up, if any (the node closes, or drains). */
static void nbd_cancel_connect_attempt(BDRVNBDState *s)
{
    if (s->attempt) {
        nbd_connect_cancel(s->attempt);
    }
}

/*
 * Set up a connection and negotiate, without blocking the event loop: the
 * coroutine yields while the connect() and every handshake message are
 * pending.  deadline_ns (-1: none) bounds the whole attempt; closing the
 * node cancels it.  A timeout fails with -ETIMEDOUT, a close with
 * -ESHUTDOWN, another cancellation (a drain) with -ECANCELED, an
 * unreachable server with -ECONNREFUSED.
 */
static int coroutine_fn nbd_co_establish(BDRVNBDState *s, int64_t deadline_ns,
                                         NBDExportInfo *info,
                                         NBDClientSocket **psock, Error **errp)
{
    NBDConnectAttempt attempt = { 0 };
    QEMUTimer *timer = NULL;
    Error *local_err = NULL;
    NBDClientSocket *sock = NULL;
    int ret;

    s->attempt = &attempt;
    s->attempt_timed_out = false;
    if (s->state == NBD_CLIENT_QUIT) {
        attempt.cancelled = true;
    }
    if (deadline_ns >= 0) {
        timer = aio_timer_new(s->ctx, nbd_connect_timer_cb, s);
        timer_mod(timer, deadline_ns);
    }
    ret = nbd_sock_co_connect(s->saddr, s->ctx, &attempt, &sock, &local_err);
    if (ret == 0) {
        ret = nbd_receive_negotiate(sock, info, &local_err);
    }
    timer_free(timer);
    s->attempt = NULL;

    if (ret < 0 && attempt.cancelled) {
        g_autofree char *desc = nbd_server_desc(s);

        error_free(local_err);
        local_err = NULL;
        if (s->attempt_timed_out) {
            error_setg(&local_err, "Connection to NBD server '%s' timed out",
                       desc);
            ret = -ETIMEDOUT;
        } else if (s->state == NBD_CLIENT_QUIT) {
            error_setg(&local_err, "The NBD node is closing");
            ret = -ESHUTDOWN;
        } else {
            error_setg(&local_err, "Connection attempt to NBD server '%s' "
                       "cancelled", desc);
            ret = -ECANCELED;
        }
    }
    if (ret < 0) {
        nbd_export_info_clear_result(info);
        nbd_sock_free(sock);
        error_propagate(errp, local_err);
        return ret;
    }
    *psock = sock;
    return 0;
}

/*
 * Connect and negotiate (see nbd_co_establish); on success the node uses
 * the new connection.
 */
static int coroutine_fn nbd_co_do_connect(BDRVNBDState *s, int64_t deadline_ns,
                                          Error **errp)
{
    NBDExportInfo info = {
        .name = s->export,
        .request_sizes = true,
        .structured_reply = true,
        .base_allocation = true,
        .x_dirty_bitmap = s->x_dirty_bitmap,
    };
    NBDClientSocket *sock;
    bool first = !s->sock && s->conn_gen == 0;
    int ret;

    trace_nbd_client_handshake(s->export);
    ret = nbd_co_establish(s, deadline_ns, &info, &sock, errp);
    if (ret < 0) {
        return ret;
    }
    /* A size that is not a multiple of the minimum block is unusable at its end */
    if (info.min_block && !QEMU_IS_ALIGNED(info.size, info.min_block)) {
        trace_nbd_clamp_size(info.size, QEMU_ALIGN_DOWN(info.size, info.min_block));
        info.size = QEMU_ALIGN_DOWN(info.size, info.min_block);
    }
    if (!first && (info.size != s->info.size ||
                   ((info.flags ^ s->info.flags) & NBD_FLAG_READ_ONLY))) {
        error_setg(errp, "Server changed the export's size or mode "
                   "after reconnecting");
        nbd_export_info_clear_result(&info);
        nbd_sock_free(sock);
        return -EINVAL;
    }
    if (s->x_dirty_bitmap && !info.base_allocation) {
        error_setg(errp, "requested x-dirty-bitmap %s not found",
                   s->x_dirty_bitmap);
        nbd_export_info_clear_result(&info);
        nbd_sock_free(sock);
        return -EINVAL;
    }

    if (s->state == NBD_CLIENT_QUIT) {
        nbd_export_info_clear_result(&info);
        nbd_sock_free(sock);
        error_setg(errp, "The NBD node is closing");
        return -ESHUTDOWN;
    }
    /* No reader is running and nobody sends on the old socket any more */
    assert(!s->reader_co);
    qemu_co_mutex_lock(&s->send_mutex);
    if (s->sock) {
        nbd_sock_free(s->sock);
    }
    s->sock = sock;
    nbd_export_info_clear_result(&s->info);
    s->info = info;
    s->info.name = NULL;
    s->info.x_dirty_bitmap = NULL;
    s->state = NBD_CLIENT_CONNECTED;
    qemu_co_mutex_unlock(&s->send_mutex);

    s->reader_co = qemu_coroutine_create(nbd_reader_entry, s);
    aio_co_schedule(s->ctx, s->reader_co);
    trace_nbd_client_handshake_success(s->export);
    return 0;
}

/* Wait until the previous connection's reader has finished. */
static void coroutine_fn nbd_co_wait_reader_exit(BDRVNBDState *s)
{
    while (s->reader_co) {
        qemu_co_queue_wait(&s->reader_exit_queue, NULL);
    }
}

/*
 * Reconnect (called by a request that found the connection down).  With
 * CONNECTING_WAIT keep trying until reconnect-delay runs out; with
 * CONNECTING_NOWAIT try once.
 */
static void coroutine_fn nbd_co_reconnect(BDRVNBDState *s)
{
    int64_t pause = NBD_RECONNECT_MIN_NS;

    s->connecting = true;
    nbd_co_wait_reader_exit(s);
    for (;;) {
        Error *local_err = NULL;
        int64_t remaining;
        int ret;

        if (s->state == NBD_CLIENT_QUIT) {
            break;      /* the node is closing */
        }

        trace_nbd_reconnect_attempt(s->in_flight);
        /* Waiting requests wait for reconnect-delay at most, this too */
        ret = nbd_co_do_connect(s, s->state == NBD_CLIENT_CONNECTING_WAIT ?
                                   s->reconnect_deadline_ns : -1, &local_err);
        trace_nbd_reconnect_attempt_result(ret, s->in_flight);
        s->connect_attempts++;
        if (ret == 0) {
            break;
        }
        trace_nbd_reconnect_attempt_error(error_get_pretty(local_err));
        error_free(local_err);
        if (s->state == NBD_CLIENT_CONNECTING_WAIT &&
            qemu_clock_get_ns() >= s->reconnect_deadline_ns) {
            s->state = NBD_CLIENT_CONNECTING_NOWAIT;
        }
        if (s->state != NBD_CLIENT_CONNECTING_WAIT) {
            break;
        }
        /* MIN() evaluates its arguments twice: read the clock once */
        remaining = s->reconnect_deadline_ns - qemu_clock_get_ns();
        pause = MIN(pause, remaining);
        if (pause > 0) {
            qemu_co_sleep_ns_wakeable(&s->reconnect_sleep, pause);
        }
        pause = MIN(pause * 2, NBD_RECONNECT_MAX_NS);
        pause = MAX(pause, NBD_RECONNECT_MIN_NS);
    }
    s->connecting = false;
    qemu_co_queue_restart_all(&s->connect_queue);
}

/* Make sure the node is connected before sending; -EIO if it can't be. */
static int coroutine_fn nbd_co_ensure_connected(BDRVNBDState *s)
{
    uint64_t attempts = s->connect_attempts;

    while (s->state != NBD_CLIENT_CONNECTED) {
        if (s->state == NBD_CLIENT_QUIT) {
            return -EIO;
        }
        if (s->state == NBD_CLIENT_CONNECTING_NOWAIT &&
            s->connect_attempts != attempts) {
            return -EIO;    /* an attempt made while we waited failed */
        }
        if (s->connecting) {
            qemu_co_queue_wait(&s->connect_queue, NULL);
            continue;
        }
        if (s->state == NBD_CLIENT_CONNECTING_WAIT &&
            qemu_clock_get_ns() >= s->reconnect_deadline_ns) {
            s->state = NBD_CLIENT_CONNECTING_NOWAIT;
        }
        nbd_co_reconnect(s);
        if (s->state == NBD_CLIENT_CONNECTING_NOWAIT) {
            return -EIO;
        }
    }
    return 0;
}

/* ---- the reply reader ---- */

static void coroutine_fn nbd_reader_entry(void *opaque)
{
    BDRVNBDState *s = opaque;
    uint64_t gen = s->conn_gen;
    int ret = 0;

    while (s->state == NBD_CLIENT_CONNECTED && gen == s->conn_gen) {
        Error *local_err = NULL;
        NBDClientRequest *req;
        uint64_t i;

        ret = nbd_receive_reply(s->sock, &s->reply, &local_err);
        if (ret < 0) {
            trace_nbd_read_reply_entry_fail(ret, error_get_pretty(local_err));
            error_free(local_err);
            ret = (ret == -EINVAL) ? -EINVAL : -EIO;
            break;
        }
        i = COOKIE_TO_INDEX(s->reply.cookie);
        if (s->reply.cookie == 0 || i >= MAX_NBD_REQUESTS ||
            !s->requests[i].in_use) {
            trace_nbd_read_reply_entry_fail(-EINVAL, "unexpected cookie");
            ret = -EINVAL;
            break;
        }
        req = &s->requests[i];
        req->reply_ready = true;
        s->handoff = req;
        if (req->waiting) {
            aio_co_wake(req->co);
        }
        while (s->handoff) {
            s->reader_waiting = true;
            qemu_coroutine_yield();
            s->reader_waiting = false;
        }
    }
    if (ret < 0) {
        nbd_channel_error(s, gen, ret);
    }
    s->reader_co = NULL;
    qemu_co_queue_restart_all(&s->reader_exit_queue);
}

/* The request is done with the socket: let the reader go on. */
static void nbd_end_handoff(BDRVNBDState *s, NBDClientRequest *req)
{
    assert(s->handoff == req);
    req->reply_ready = false;
    s->handoff = NULL;
    if (s->reader_waiting) {
        aio_co_wake(s->reader_co);
    }
}

/* ---- requests ---- */

static NBDClientRequest *coroutine_fn nbd_co_get_slot(BDRVNBDState *s)
{
    int i;

    while (s->in_flight == MAX_NBD_REQUESTS) {
        qemu_co_queue_wait(&s->free_sema, NULL);
    }
    s->in_flight++;
    for (i = 0; i < MAX_NBD_REQUESTS; i++) {
        if (!s->requests[i].in_use) {
            s->requests[i] = (NBDClientRequest) {
                .in_use = true,
                .co = qemu_coroutine_self(),
            };
            return &s->requests[i];
        }
    }
    g_assert_not_reached();
}

static void coroutine_fn nbd_co_put_slot(BDRVNBDState *s, NBDClientRequest *req)
{
    req->in_use = false;
    req->co = NULL;
    s->in_flight--;
    qemu_co_queue_next(&s->free_sema);
}

/* Send the request on the current connection; -EIO if it is down. */
static int coroutine_fn nbd_co_send(BDRVNBDState *s, NBDClientRequest *req,
                                    NBDRequest *request, QEMUIOVector *payload)
{
    Error *local_err = NULL;
    int ret;

    qemu_co_mutex_lock(&s->send_mutex);
    if (s->state != NBD_CLIENT_CONNECTED) {
        qemu_co_mutex_unlock(&s->send_mutex);
        return -EIO;
    }
    req->gen = s->conn_gen;
    request->cookie = INDEX_TO_COOKIE(req - s->requests);
    ret = nbd_send_request(s->sock, request, payload, &local_err);
    qemu_co_mutex_unlock(&s->send_mutex);
    if (ret < 0) {
        error_free(local_err);
        nbd_channel_error(s, req->gen, -EIO);
        return -EIO;
    }
    return 0;
}

/* Wait until the reader hands us a reply header; -EIO if the connection died. */
static int coroutine_fn nbd_co_wait_reply(BDRVNBDState *s, NBDClientRequest *req)
{
    while (!req->reply_ready) {
        if (s->state != NBD_CLIENT_CONNECTED || req->gen != s->conn_gen) {
            return -EIO;
        }
        req->waiting = true;
        qemu_coroutine_yield();
        req->waiting = false;
    }
    return 0;
}

/*
 * The fixed head of a structured reply chunk: if the chunk's length is not
 * valid for its type (named `what` in the error), a protocol error;
 * otherwise read `size` bytes into buf.
 */
static int coroutine_fn nbd_co_read_chunk_head(BDRVNBDState *s, bool valid,
                                               const char *what, void *buf,
                                               size_t size, Error **errp)
{
    if (!valid) {
        error_setg(errp, "Protocol error: invalid payload for %s", what);
        return -EINVAL;
    }
    return nbd_sock_read(s->sock, buf, size, errp);
}

/* A data or hole chunk must lie inside the region the request asked for. */
static int nbd_check_chunk_range(NBDRequest *request, uint64_t offset,
                                 uint32_t len, const char *what, Error **errp)
{
    if (offset < request->from || len > request->len ||
        offset - request->from > request->len - len) {
        error_setg(errp, "Protocol error: server sent %s exceeding "
                   "requested region", what);
        return -EINVAL;
    }
    return 0;
}

/* Structured error chunk: record the error, skip the message. */
static int coroutine_fn nbd_co_error_chunk(BDRVNBDState *s, NBDReply *reply,
                                           NBDReplyResult *res, Error **errp)
{
    uint8_t hdr[6];
    uint32_t error;
    uint16_t msglen;
    int ret;

    ret = nbd_co_read_chunk_head(s, reply->length >= sizeof(hdr), "error chunk",
                                 hdr, sizeof(hdr), errp);
    if (ret < 0) {
        return ret;
    }
    error = nbd_ld32(hdr);
    msglen = nbd_ld16(hdr + 4);
    if (msglen > reply->length - sizeof(hdr) ||
        (reply->type == NBD_REPLY_TYPE_ERROR_OFFSET &&
         msglen + 8 > reply->length - sizeof(hdr))) {
        error_setg(errp, "Protocol error: server error message too long");
        return -EINVAL;
    }
    if (error == 0) {
        error_setg(errp, "Protocol error: server sent error chunk with zero "
                   "error value");
        return -EINVAL;
    }
    ret = nbd_sock_drop(s->sock, reply->length - sizeof(hdr), errp);
    if (ret < 0) {
        return ret;
    }
    if (!res->error) {
        res->error = nbd_wire_to_errno(error);
    }
    return 0;
}

static int coroutine_fn nbd_co_offset_data_chunk(BDRVNBDState *s,
                                                 NBDRequest *request,
                                                 NBDReply *reply,
                                                 NBDReplyResult *res,
                                                 Error **errp)
{
    uint8_t buf[8];
    uint64_t offset;
    uint32_t len;
    QEMUIOVector slice;
    int ret;

    ret = nbd_co_read_chunk_head(s, reply->length > sizeof(buf),
                                 "NBD_REPLY_TYPE_OFFSET_DATA", buf, sizeof(buf),
                                 errp);
    if (ret < 0) {
        return ret;
    }
    offset = nbd_ld64(buf);
    len = reply->length - sizeof(buf);
    ret = nbd_check_chunk_range(request, offset, len, "chunk", errp);
    if (ret < 0) {
        return ret;
    }
    qemu_iovec_init_slice(&slice, res->qiov, offset - request->from, len);
    ret = nbd_sock_readv(s->sock, slice.iov, slice.niov, errp);
    qemu_iovec_destroy(&slice);
    return ret;
}

static int coroutine_fn nbd_co_offset_hole_chunk(BDRVNBDState *s,
                                                 NBDRequest *request,
                                                 NBDReply *reply,
                                                 NBDReplyResult *res,
                                                 Error **errp)
{
    uint8_t buf[12];
    uint64_t offset;
    uint32_t len;
    int ret;

    ret = nbd_co_read_chunk_head(s, reply->length == sizeof(buf),
                                 "NBD_REPLY_TYPE_OFFSET_HOLE", buf, sizeof(buf),
                                 errp);
    if (ret < 0) {
        return ret;
    }
    offset = nbd_ld64(buf);
    len = nbd_ld32(buf + 8);
    ret = nbd_check_chunk_range(request, offset, len, "hole", errp);
    if (ret < 0) {
        return ret;
    }
    qemu_iovec_memset(res->qiov, offset - request->from, 0, len);
    return 0;
}

static int coroutine_fn nbd_co_block_status_chunk(BDRVNBDState *s,
                                                  NBDRequest *request,
                                                  NBDReply *reply,
                                                  NBDReplyResult *res,
                                                  Error **errp)
{
    uint8_t buf[12];
    bool valid;
    int ret;

    /* One extent (12 bytes: context id, length, flags) or more */
    valid = reply->length >= sizeof(buf) && (reply->length - 4) % 8 == 0;
    if (valid && res->got_extent) {
        error_setg(errp, "Protocol error: server sent status chunk more than "
                   "once");
        return -EINVAL;
    }
    ret = nbd_co_read_chunk_head(s, valid, "NBD_REPLY_TYPE_BLOCK_STATUS", buf,
                                 sizeof(buf), errp);
    if (ret < 0) {
        return ret;
    }
    if (nbd_ld32(buf) != s->info.context_id) {
        error_setg(errp, "Protocol error: unexpected context id %u for "
                   "NBD_REPLY_TYPE_BLOCK_STATUS, when negotiated context id "
                   "is %u", nbd_ld32(buf), s->info.context_id);
        return -EINVAL;
    }
    res->extent_len = nbd_ld32(buf + 4);
    res->extent_flags = nbd_ld32(buf + 8);
    if (res->extent_len == 0) {
        error_setg(errp, "Protocol error: server sent status chunk with "
                   "zero length");
        return -EINVAL;
    }
    if (res->extent_len > request->len) {
        trace_nbd_parse_blockstatus_compliance("extent length is too large");
        res->extent_len = request->len;
    }
    if (reply->length > sizeof(buf)) {
        trace_nbd_parse_blockstatus_compliance("more than one extent");
        ret = nbd_sock_drop(s->sock, reply->length - sizeof(buf), errp);
        if (ret < 0) {
            return ret;
        }
    }
    res->got_extent = true;
    return 0;
}

/* Handle one reply header in s->reply; *done when the reply is complete. */
static int coroutine_fn nbd_co_handle_reply(BDRVNBDState *s,
                                            NBDRequest *request,
                                            NBDReplyResult *res, bool *done,
                                            Error **errp)
{
    NBDReply *reply = &s->reply;

    if (!reply->structured) {
        *done = true;
        if (reply->error) {
            if (!res->error) {
                res->error = nbd_wire_to_errno(reply->error);
            }
            return 0;
        }
        if (request->type == NBD_CMD_BLOCK_STATUS) {
            error_setg(errp, "Protocol error: simple reply when structured "
                       "reply chunk was expected");
            return -EINVAL;
        }
        if (request->type == NBD_CMD_READ) {
            return nbd_sock_readv(s->sock, res->qiov->iov, res->qiov->niov, errp);
        }
        return 0;
    }

    if (!s->info.structured_reply) {
        error_setg(errp, "Protocol error: structured reply without "
                   "negotiation");
        return -EINVAL;
    }
    *done = reply->flags & NBD_REPLY_FLAG_DONE;
    switch (reply->type) {
    case NBD_REPLY_TYPE_NONE:
        if (reply->length || !*done) {
            error_setg(errp, "Protocol error: NBD_REPLY_TYPE_NONE chunk with "
                       "payload or without the done flag");
            return -EINVAL;
        }
        return 0;
    case NBD_REPLY_TYPE_OFFSET_DATA:
        if (request->type != NBD_CMD_READ) {
            break;
        }
        return nbd_co_offset_data_chunk(s, request, reply, res, errp);
    case NBD_REPLY_TYPE_OFFSET_HOLE:
        if (request->type != NBD_CMD_READ) {
            break;
        }
        return nbd_co_offset_hole_chunk(s, request, reply, res, errp);
    case NBD_REPLY_TYPE_BLOCK_STATUS:
        if (request->type != NBD_CMD_BLOCK_STATUS) {
            break;
        }
        return nbd_co_block_status_chunk(s, request, reply, res, errp);
    default:
        if (NBD_REPLY_TYPE_IS_ERR(reply->type)) {
            return nbd_co_error_chunk(s, reply, res, errp);
        }
        break;
    }
    error_setg(errp, "Protocol error: unexpected chunk type %u (%s) for "
               "command %u (%s)", reply->type,
               nbd_reply_type_lookup(reply->type), request->type,
               nbd_cmd_lookup(request->type));
    return -EINVAL;
}

/* Receive every chunk of the reply to req: 0, or -EIO if the connection broke. */
static int coroutine_fn nbd_co_receive_reply(BDRVNBDState *s,
                                             NBDClientRequest *req,
                                             NBDRequest *request,
                                             NBDReplyResult *res)
{
    bool done = false;

    while (!done) {
        Error *local_err = NULL;
        int ret = nbd_co_wait_reply(s, req);

        if (ret < 0) {
            return ret;
        }
        ret = nbd_co_handle_reply(s, request, res, &done, &local_err);
        if (ret < 0) {
            trace_nbd_co_request_fail(request->from, request->len,
                                      request->cookie, request->flags,
                                      request->type,
                                      nbd_cmd_lookup(request->type), ret,
                                      error_get_pretty(local_err));
            error_free(local_err);
            nbd_channel_error(s, req->gen, ret == -EINVAL ? -EINVAL : -EIO);
            nbd_end_handoff(s, req);
            return -EIO;
        }
        nbd_end_handoff(s, req);
    }
    return 0;
}

/*
 * Send request (with payload for writes) and collect its reply into res.
 * Returns 0, the error the server reported (-errno), or -EIO when the
 * connection is lost for good.  While reconnecting is allowed the request
 * is sent again once the connection is back.
 */
static int coroutine_fn nbd_co_request(BlockDriverState *bs, NBDRequest *request,
                                       QEMUIOVector *payload,
                                       NBDReplyResult *res)
{
    BDRVNBDState *s = bs->opaque;
    NBDClientRequest *req;
    uint64_t cancel_gen = s->cancel_gen;
    int64_t give_up_ns = -1;
    int ret;

    req = nbd_co_get_slot(s);
    for (;;) {
        if (s->cancel_gen != cancel_gen) {
            ret = -EIO;     /* cancelled: not (re)sent any more */
            break;
        }
        res->error = 0;
        res->got_extent = false;
        ret = nbd_co_ensure_connected(s);
        if (ret < 0) {
            break;
        }
        ret = nbd_co_send(s, req, request, payload);
        if (ret == 0) {
            ret = nbd_co_receive_reply(s, req, request, res);
        }
        if (ret == 0 || !nbd_client_will_reconnect(s)) {
            break;
        }
        /*
         * Re-send on the next connection, but not for longer than
         * reconnect-delay in total: a server that accepts and drops every
         * connection must not keep the request forever.
         */
        if (give_up_ns < 0) {
            give_up_ns = qemu_clock_get_ns() +
                         (int64_t)s->reconnect_delay * NANOSECONDS_PER_SECOND;
        } else if (qemu_clock_get_ns() >= give_up_ns) {
            break;
        }
    }
    nbd_co_put_slot(s, req);

    if (ret < 0) {
        trace_nbd_co_request_fail(request->from, request->len, request->cookie,
                                  request->flags, request->type,
                                  nbd_cmd_lookup(request->type), ret,
                                  "connection lost");
        return ret;
    }
    return res->error ? -res->error : 0;
}

/* ---- driver callbacks ---- */

static int coroutine_fn nbd_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    BDRVNBDState *s = bs->opaque;
    NBDRequest request = {
        .type = NBD_CMD_READ,
        .from = offset,
        .len = bytes,
    };
    NBDReplyResult res = { .qiov = qiov };
    QEMUIOVector slice;
    int ret;

    assert(bytes <= NBD_MAX_BUFFER_SIZE);
    if (!bytes) {
        return 0;
    }
    /* An unaligned export end: the part past it reads as zeroes */
    if (offset + bytes > (int64_t)s->info.size) {
        uint64_t slop = offset + bytes - s->info.size;

        assert(slop < bs->bl.request_alignment || offset >= (int64_t)s->info.size);
        if (offset >= (int64_t)s->info.size) {
            qemu_iovec_memset(qiov, 0, 0, bytes);
            return 0;
        }
        qemu_iovec_memset(qiov, bytes - slop, 0, slop);
        request.len -= slop;
        qemu_iovec_init_slice(&slice, qiov, 0, request.len);
        res.qiov = &slice;
        ret = nbd_co_request(bs, &request, NULL, &res);
        qemu_iovec_destroy(&slice);
        return ret;
    }
    return nbd_co_request(bs, &request, NULL, &res);
}

/* A request whose reply carries no data: 0, or -errno */
static int coroutine_fn nbd_co_request_simple(BlockDriverState *bs,
                                              uint16_t type, int64_t offset,
                                              int64_t bytes, uint16_t flags,
                                              QEMUIOVector *payload)
{
    NBDRequest request = {
        .type = type,
        .flags = flags,
        .from = offset,
        .len = bytes,
    };
    NBDReplyResult res = { 0 };

    return nbd_co_request(bs, &request, payload, &res);
}

/* NBD_CMD_FLAG_FUA for BDRV_REQ_FUA (offered only if the server has it) */
static uint16_t nbd_fua_flag(BDRVNBDState *s, BdrvRequestFlags flags)
{
    if (!(flags & BDRV_REQ_FUA)) {
        return 0;
    }
    assert(s->info.flags & NBD_FLAG_SEND_FUA);
    return NBD_CMD_FLAG_FUA;
}

static int coroutine_fn nbd_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    BDRVNBDState *s = bs->opaque;
    uint16_t nbd_flags;

    assert(!(s->info.flags & NBD_FLAG_READ_ONLY));
    assert(bytes <= NBD_MAX_BUFFER_SIZE);
    nbd_flags = nbd_fua_flag(s, flags);
    if (!bytes) {
        return 0;
    }
    return nbd_co_request_simple(bs, NBD_CMD_WRITE, offset, bytes, nbd_flags,
                                 qiov);
}

static int coroutine_fn nbd_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    BDRVNBDState *s = bs->opaque;
    uint16_t nbd_flags;

    assert(bytes <= UINT32_MAX);
    assert(!(s->info.flags & NBD_FLAG_READ_ONLY));
    if (!(s->info.flags & NBD_FLAG_SEND_WRITE_ZEROES)) {
        return -ENOTSUP;
    }
    nbd_flags = nbd_fua_flag(s, flags);
    if (!(flags & BDRV_REQ_MAY_UNMAP)) {
        nbd_flags |= NBD_CMD_FLAG_NO_HOLE;
    }
    if (flags & BDRV_REQ_NO_FALLBACK) {
        assert(s->info.flags & NBD_FLAG_SEND_FAST_ZERO);
        nbd_flags |= NBD_CMD_FLAG_FAST_ZERO;
    }
    if (!bytes) {
        return 0;
    }
    return nbd_co_request_simple(bs, NBD_CMD_WRITE_ZEROES, offset, bytes,
                                 nbd_flags, NULL);
}

static int coroutine_fn nbd_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    BDRVNBDState *s = bs->opaque;

    assert(bytes <= UINT32_MAX);
    assert(!(s->info.flags & NBD_FLAG_READ_ONLY));
    if (!(s->info.flags & NBD_FLAG_SEND_TRIM) || !bytes) {
        return 0;
    }
    return nbd_co_request_simple(bs, NBD_CMD_TRIM, offset, bytes, 0, NULL);
}

static int coroutine_fn nbd_co_flush(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;

    if (!(s->info.flags & NBD_FLAG_SEND_FLUSH)) {
        return 0;
    }
    return nbd_co_request_simple(bs, NBD_CMD_FLUSH, 0, 0, 0, NULL);
}

static int coroutine_fn nbd_co_block_status(BlockDriverState *bs,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file)
{
    BDRVNBDState *s = bs->opaque;
    uint32_t align = bs->bl.request_alignment;
    NBDRequest request = {
        .type = NBD_CMD_BLOCK_STATUS,
        .from = offset,
        .flags = NBD_CMD_FLAG_REQ_ONE,
    };
    NBDReplyResult res = { 0 };
    int64_t len;
    int ret;

    if (map) {
        *map = offset;
    }
    if (file) {
        *file = bs;
    }
    if (!s->info.base_allocation) {
        *pnum = bytes;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    /* The unaligned tail of an export reads as zeroes */
    if (offset >= (int64_t)s->info.size) {
        *pnum = bytes;
        return BDRV_BLOCK_ZERO | BDRV_BLOCK_OFFSET_VALID;
    }
    len = MIN(bytes, (int64_t)s->info.size - offset);
    len = MIN(len, QEMU_ALIGN_DOWN(INT32_MAX, align));
    if (len < align) {
        len = MIN(bytes, align);
        if (offset + len > (int64_t)s->info.size) {
            len = s->info.size - offset;
        }
    }
    request.len = len;

    ret = nbd_co_request(bs, &request, NULL, &res);
    if (ret < 0) {
        return ret;
    }
    if (!res.got_extent) {
        error_report("nbd: server did not send a block status chunk");
        return -EIO;
    }
    *pnum = res.extent_len;
    if (*pnum < align) {
        /* Mixed status inside one aligned block: report it as data */
        *pnum = MIN(align, bytes);
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    if (offset + *pnum < (int64_t)s->info.size) {
        *pnum = QEMU_ALIGN_DOWN(*pnum, align);
    } else if (offset + bytes > (int64_t)s->info.size) {
        *pnum = bytes;      /* include the zero tail past the export */
    }
    return (res.extent_flags & NBD_STATE_HOLE ? 0 : BDRV_BLOCK_DATA) |
           (res.extent_flags & NBD_STATE_ZERO ? BDRV_BLOCK_ZERO : 0) |
           BDRV_BLOCK_OFFSET_VALID;
}

static int64_t nbd_getlength(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;

    return s->info.size;
}

static void nbd_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVNBDState *s = bs->opaque;
    uint32_t min = s->info.min_block;
    uint32_t max = MIN_NON_ZERO(NBD_MAX_BUFFER_SIZE, s->info.max_block);

    if (!min) {
        min = s->info.structured_reply ? 1 : BDRV_SECTOR_SIZE;
    }
    bs->bl.request_alignment = min;
    bs->bl.max_pdiscard = QEMU_ALIGN_DOWN(INT_MAX, min);
    bs->bl.max_pwrite_zeroes = bs->bl.max_pdiscard;
    bs->bl.max_transfer = QEMU_ALIGN_DOWN(max, min);
    if (s->info.opt_block && s->info.opt_block > min) {
        bs->bl.opt_transfer = s->info.opt_block;
    }
}

static void nbd_set_supported_flags(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;

    bs->supported_write_flags = 0;
    bs->supported_zero_flags = 0;
    if (s->info.flags & NBD_FLAG_SEND_FUA) {
        bs->supported_write_flags |= BDRV_REQ_FUA;
        bs->supported_zero_flags |= BDRV_REQ_FUA;
    }
    if (s->info.flags & NBD_FLAG_SEND_WRITE_ZEROES) {
        bs->supported_zero_flags |= BDRV_REQ_MAY_UNMAP;
        if (s->info.flags & NBD_FLAG_SEND_FAST_ZERO) {
            bs->supported_zero_flags |= BDRV_REQ_NO_FALLBACK;
        }
    }
}

static SocketAddress *nbd_clone_saddr(SocketAddress *addr)
{
    json_object *obj = visit_out_SocketAddress(addr);
    SocketAddress *copy = NULL;

    visit_type_SocketAddress(obj, "server", &copy, &error_abort);
    json_object_put(obj);
    return copy;
}

/*
 * The first connection.  With open-timeout 0 one attempt, as long as it
 * takes; otherwise attempts are retried while the server refuses, and the
 * whole (connect and handshake included) ends after open-timeout seconds.
 */
static int coroutine_fn nbd_co_open_connection(BDRVNBDState *s, Error **errp)
{
    int64_t deadline = -1;
    int64_t pause = NBD_RECONNECT_MIN_NS;

    if (s->open_timeout) {
        deadline = qemu_clock_get_ns() +
                   (int64_t)s->open_timeout * NANOSECONDS_PER_SECOND;
    }
    for (;;) {
        Error *local_err = NULL;
        int ret = nbd_co_do_connect(s, deadline, &local_err);
        int64_t remaining;

        if (ret == 0) {
            return 0;
        }
        remaining = deadline < 0 ? 0 : deadline - qemu_clock_get_ns();
        if (ret == -ETIMEDOUT) {
            g_autofree char *desc = nbd_server_desc(s);

            error_free(local_err);
            local_err = NULL;
            error_setg(&local_err, "Connection to NBD server '%s' timed out "
                       "(open-timeout %" PRIu32 " s)", desc, s->open_timeout);
        }
        /* Only connection failures are worth retrying, not refusals */
        if (ret != -ECONNREFUSED || remaining <= 0 ||
            s->state == NBD_CLIENT_QUIT) {
            error_propagate(errp, local_err);
            return ret;
        }
        error_free(local_err);
        qemu_co_sleep_ns(MIN(pause, remaining));
        pause = MIN(pause * 2, NBD_RECONNECT_MAX_NS);
    }
}

static void nbd_close(BlockDriverState *bs);

/* nbd://HOST:PORT/EXPORT or nbd+unix:///EXPORT?socket=PATH */
static void nbd_set_filename(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;
    g_autofree char *name = NULL;

    if (s->saddr->type == SOCKET_ADDRESS_TYPE_UNIX) {
        name = g_strdup_printf("nbd+unix:///%s?socket=%s", s->export,
                               s->saddr->u.q_unix.path);
    } else {
        name = g_strdup_printf("nbd://%s:%s/%s", s->saddr->u.inet.host,
                               s->saddr->u.inet.port, s->export);
    }
    g_strlcpy(bs->filename, name, sizeof(bs->filename));
}

typedef struct NBDOpenCo {
    BDRVNBDState *s;
    Error *err;
    int ret;
    bool done;
} NBDOpenCo;

static void coroutine_fn nbd_open_entry(void *opaque)
{
    NBDOpenCo *oc = opaque;

    oc->ret = nbd_co_open_connection(oc->s, &oc->err);
    oc->done = true;
}

static int nbd_open(BlockDriverState *bs, BlockdevOptions *options, int flags,
                    Error **errp)
{
    BDRVNBDState *s = bs->opaque;
    BlockdevOptionsNbd *opts = &options->u.nbd;
    NBDOpenCo oc = { .s = s };

    if (opts->tls_creds) {
        error_setg(errp, "No TLS credentials with id '%s'", opts->tls_creds);
        return -EINVAL;
    }
    if (opts->server->type != SOCKET_ADDRESS_TYPE_INET &&
        opts->server->type != SOCKET_ADDRESS_TYPE_UNIX) {
        error_setg(errp, "Unsupported socket address type '%s'",
                   SocketAddressType_str(opts->server->type));
        return -EINVAL;
    }

    s->bs = bs;
    s->ctx = qemu_get_current_aio_context();
    s->saddr = nbd_clone_saddr(opts->server);
    s->export = g_strdup(opts->export ? opts->export : "");
    s->x_dirty_bitmap = g_strdup(opts->x_dirty_bitmap);
    s->reconnect_delay = opts->has_reconnect_delay ? opts->reconnect_delay : 0;
    s->open_timeout = opts->has_open_timeout ? opts->open_timeout : 0;
    s->state = NBD_CLIENT_CONNECTING_NOWAIT;
    qemu_co_mutex_init(&s->send_mutex);
    qemu_co_queue_init(&s->free_sema);
    qemu_co_queue_init(&s->connect_queue);
    qemu_co_queue_init(&s->reader_exit_queue);

    if (qemu_in_coroutine()) {
        nbd_open_entry(&oc);
    } else {
        Coroutine *co = qemu_coroutine_create(nbd_open_entry, &oc);
        qemu_coroutine_enter(co);
        AIO_POLL_WHILE(s->ctx, !oc.done);
    }
    if (oc.ret < 0) {
        error_propagate(errp, oc.err);
        goto fail;
    }

    if ((s->info.flags & NBD_FLAG_READ_ONLY) && (bs->open_flags & BDRV_O_RDWR)) {
        if (!bs->auto_read_only) {
            /* QEMU's words for this case (its block core's generic text) */
            error_setg_errno(errp, EACCES, "Could not open image");
            error_append_hint(errp, "The NBD export is read-only\n");
            oc.ret = -EACCES;
            goto fail;
        }
        bs->read_only = true;
        bs->open_flags &= ~BDRV_O_RDWR;
    }
    nbd_set_supported_flags(bs);
    nbd_set_filename(bs);
    return 0;

fail:
    nbd_close(bs);
    return oc.ret;
}

static void coroutine_fn nbd_disc_entry(void *opaque)
{
    BDRVNBDState *s = opaque;
    NBDRequest request = { .type = NBD_CMD_DISC };

    qemu_co_mutex_lock(&s->send_mutex);
    nbd_send_request(s->sock, &request, NULL, NULL);
    qemu_co_mutex_unlock(&s->send_mutex);
    *s->disc_done = true;
}

static void nbd_close(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;

    if (s->state == NBD_CLIENT_CONNECTED && s->sock) {
        /* Courtesy notice; nothing is in flight any more (we were drained) */
        bool done = false;
        s->disc_done = &done;
        qemu_coroutine_enter(qemu_coroutine_create(nbd_disc_entry, s));
        AIO_POLL_WHILE(s->ctx, !done);
        s->disc_done = NULL;
    }
    s->state = NBD_CLIENT_QUIT;
    if (s->sock) {
        nbd_sock_shutdown(s->sock);
    }
    nbd_cancel_connect_attempt(s);
    qemu_co_sleep_wake(&s->reconnect_sleep);
    AIO_POLL_WHILE(s->ctx, s->reader_co || s->connecting);
    if (s->sock) {
        nbd_sock_free(s->sock);
        s->sock = NULL;
    }
    nbd_export_info_clear_result(&s->info);
    qapi_free_SocketAddress(s->saddr);
    s->saddr = NULL;
    g_free(s->export);
    s->export = NULL;
    g_free(s->x_dirty_bitmap);
    s->x_dirty_bitmap = NULL;
}

/*
 * A job's force cancel: a server that stopped answering must not keep the
 * job (or a drain) waiting.  Requests begun so far fail with -EIO: the
 * connection is dropped (a late reply could not be told apart from the
 * socket's state, and a sender may be stuck on a full socket), a
 * negotiation in progress is shut down and no reconnection is waited
 * for.  Later requests connect again, as after any lost connection.
 */
static void nbd_cancel_in_flight(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;

    trace_nbd_cancel_in_flight(s->in_flight, s->state);
    s->cancel_gen++;
    if (s->state == NBD_CLIENT_CONNECTED && s->in_flight > 0) {
        nbd_channel_error(s, s->conn_gen, -EIO);
    }
    if (s->state == NBD_CLIENT_CONNECTING_WAIT) {
        s->state = NBD_CLIENT_CONNECTING_NOWAIT;
    }
    nbd_cancel_connect_attempt(s);
    qemu_co_sleep_wake(&s->reconnect_sleep);
}

/*
 * Do not keep a drain waiting for the reconnection pause: try now.  A
 * single attempt (no reconnect-delay left) to a server that does not
 * answer would hold the drain forever: give it up.
 */
static void nbd_drain_begin(BlockDriverState *bs)
{
    BDRVNBDState *s = bs->opaque;

    qemu_co_sleep_wake(&s->reconnect_sleep);
    if (s->connecting && s->state == NBD_CLIENT_CONNECTING_NOWAIT) {
        nbd_cancel_connect_attempt(s);
    }
}

BlockDriver bdrv_nbd = {
    .format_name                = "nbd",
    .instance_size              = sizeof(BDRVNBDState),
    .is_format                  = false,

    .bdrv_open                  = nbd_open,
    .bdrv_close                 = nbd_close,
    .bdrv_refresh_limits        = nbd_refresh_limits,
    .bdrv_getlength             = nbd_getlength,

    .bdrv_co_preadv             = nbd_co_preadv,
    .bdrv_co_pwritev            = nbd_co_pwritev,
    .bdrv_co_pwrite_zeroes      = nbd_co_pwrite_zeroes,
    .bdrv_co_pdiscard           = nbd_co_pdiscard,
    .bdrv_co_flush              = nbd_co_flush,
    .bdrv_co_block_status       = nbd_co_block_status,

    .bdrv_drain_begin           = nbd_drain_begin,
    .bdrv_cancel_in_flight      = nbd_cancel_in_flight,
};
